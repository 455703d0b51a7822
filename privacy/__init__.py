"""Privacy operations: the subject-request portal, the request and audit logs, export,
erasure across both halves, retention.

The app shell (``consentry.create_app``) calls :func:`init_app` after both halves: this
part reads their models and calls their domain functions; neither half sees it.
"""

from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

from core.ratelimit import limit_view
from privacy import api, audit, cli, openapi, portal, retention
from privacy.mailer import OutboxMailer, SmtpMailer


def init_app(app: Flask) -> None:
    """Add the portal, the API, the mailer, the rate limit, the audit hooks and retention."""
    cfg = app.config
    sender = cfg["MAIL_FROM"] or f"privacy@{urlsplit(cfg['PUBLIC_URL']).hostname or 'localhost'}"
    if cfg["SMTP_URL"]:
        app.extensions["privacy_mailer"] = SmtpMailer(cfg["SMTP_URL"], sender)
    else:
        app.extensions["privacy_mailer"] = OutboxMailer(Path(cfg["DATA_DIR"]) / "outbox", sender)
    app.register_blueprint(portal.bp)
    # Per client, against floods; per address (as its keyed hash, never the address), so
    # nobody's mailbox can be filled with links from many clients.
    limit_view(app, "privacy.submit_request", cfg["PRIVACY_RATE_LIMIT"])
    limit_view(
        app,
        "privacy.submit_request",
        cfg["PRIVACY_ADDRESS_RATE_LIMIT"],
        key_func=portal.address_key,
    )
    app.register_blueprint(api.bp)
    app.extensions["openapi"].add(openapi.OPERATIONS)
    audit.install()
    retention.install(app)
    app.cli.add_command(cli.retention_cli)
