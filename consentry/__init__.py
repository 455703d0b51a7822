"""Consentry: self-hosted cookie consent and email tracking consent, with proof.

The app shell. ``create_app`` is the composition root, the only place that sees every
part: config, the WSGI middlewares (the fast lane, security headers, proxy headers), then
the stores, then each half, then what is app-wide (health, API docs, demo page, commands).
"""

from importlib.metadata import version
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import analytics
import consent
import dashboard
import pixel
import privacy
from consentry import cli, demo, docs, guide, health
from core.config import load_config
from core.db import db, migrate
from core.errors import register_error_handlers
from core.fastlane import FastLane
from core.headers import SecurityHeaders
from core.openapi import ApiDescription
from events import EventPipeline
from events.cli import events_cli

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
    """Build the Consentry application: config -> stores -> halves -> app-wide parts."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_config(app, test_config)
    # The halves add their hottest routes to the fast lane; Flask serves them too.
    lane = app.extensions["fastlane"] = FastLane(app.wsgi_app, app.config["TRUSTED_HOSTS"])
    served = lane if app.config["FAST_LANE"] else app.wsgi_app
    app.wsgi_app = SecurityHeaders(served, always=SECURITY_HEADERS, html=PAGE_HEADERS)
    if app.config["PROXY_HOPS"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_HOPS"], x_proto=1)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    events.init_app(app, schema_dir=ROOT / "migrations" / "clickhouse")
    app.extensions["openapi"] = ApiDescription(
        "Consentry API",
        "Cookie consent with proof, and email tracking consent.",
        version("consentry"),
    )
    register_error_handlers(app)

    consent.init_app(app)
    pixel.init_app(app)
    analytics.init_app(app)
    privacy.init_app(app)  # after the halves: it reads both
    dashboard.init_app(app)

    for part in (health, docs, guide, demo):
        app.register_blueprint(part.bp)
        app.extensions["openapi"].add(getattr(part, "OPERATIONS", []))
    cli.register(app)
    app.cli.add_command(events_cli)
    return app
