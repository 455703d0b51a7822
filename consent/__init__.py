"""Consentry: self-hosted cookie consent and email tracking consent, with proof.

``create_app`` is the composition root, the only module that sees every part.
"""

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from consent import api, cli, docs, pages
from consent.sites import load_sites
from core.config import load_config
from core.db import db, migrate
from core.errors import register_error_handlers
from events import EventPipeline

ROOT = Path(__file__).resolve().parent.parent

events = EventPipeline()

# Pages only load what Consentry itself serves; the inline <style> is the only exception.
CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Consentry application: config -> stores -> blueprints -> CLI."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_config(app, test_config)
    app.extensions["sites"] = load_sites(app.config["SITES_FILE"])
    if app.config["PROXY_HOPS"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_HOPS"], x_proto=1)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    events.init_app(app, schema_dir=ROOT / "migrations" / "clickhouse")

    register_error_handlers(app)
    for blueprint in (api.bp, docs.bp, pages.bp):
        app.register_blueprint(blueprint)
    app.after_request(_security_headers)
    cli.register(app)
    return app


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response
