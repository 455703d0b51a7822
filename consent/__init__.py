"""Consentry: self-hosted cookie consent and email tracking consent, with proof.

``create_app`` is the composition root, the only module that sees every part.
"""

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from consent import api, cli, docs, pages, reconcile
from consent.sites import load_sites
from core.config import load_config
from core.db import db, migrate
from core.errors import register_error_handlers
from core.headers import SecurityHeaders
from events import EventPipeline

ROOT = Path(__file__).resolve().parent.parent

events = EventPipeline()

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
PAGE_HEADERS = {
    # Pages only load what Consentry itself serves; the inline <style> is the only exception.
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
}


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Consentry application: config -> stores -> blueprints -> CLI."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_config(app, test_config)
    app.extensions["sites"] = load_sites(app.config["SITES_FILE"])
    app.wsgi_app = SecurityHeaders(app.wsgi_app, always=SECURITY_HEADERS, html=PAGE_HEADERS)
    if app.config["PROXY_HOPS"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_HOPS"], x_proto=1)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    events.init_app(app, schema_dir=ROOT / "migrations" / "clickhouse")
    reconcile.install(app)

    register_error_handlers(app)
    for blueprint in (api.bp, docs.bp, pages.bp):
        app.register_blueprint(blueprint)
    cli.register(app)
    return app
