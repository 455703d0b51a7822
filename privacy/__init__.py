"""Privacy operations: the subject-request portal, the request and audit logs, export,
erasure across both halves, retention.

The app shell (``consentry.create_app``) calls :func:`init_app` after both halves: this
part reads their models and calls their domain functions; neither half sees it.
"""

from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

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
    # One limiter per app (tests build several); the portal's form is the only limited route.
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=cfg["RATELIMIT_STORAGE_URL"],
        strategy="moving-window",
        headers_enabled=True,
        key_prefix="consentry-privacy",
    )
    app.extensions["privacy_limiter"] = limiter
    app.register_blueprint(portal.bp)
    # Flask-Limiter checks a decorated view inside its wrapper: this app's route gets it.
    # Per client, against floods; per address (as its keyed hash, never the address), so
    # nobody's mailbox can be filled with links from many clients.
    view = limiter.limit(cfg["PRIVACY_RATE_LIMIT"], methods=["POST"])(portal.submit_request)
    view = limiter.limit(
        cfg["PRIVACY_ADDRESS_RATE_LIMIT"], methods=["POST"], key_func=portal.address_key
    )(view)
    app.view_functions["privacy.submit_request"] = view
    app.register_blueprint(api.bp)
    app.extensions["openapi"].add(openapi.OPERATIONS)
    audit.install()
    retention.install(app)
    app.cli.add_command(cli.retention_cli)
