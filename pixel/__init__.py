"""The email half: recipients, messages and suppressions, their tokens, the minting API,
the hits on pixels, tracked links and the web beacon, the recipient's pages
(``/u/<token>``) and the suppressions feed.

The app shell (``consentry.create_app``) calls :func:`init_app`; nothing here sees the
consent half. It shares ``core`` (config, SQL store, errors, signing) and ``events`` (the
ClickHouse pipeline) with it, and reads two of its answers through ``app.extensions``:
the sites (``sites``) and what a consent id grants now (``consent_grants``).
"""

from flask import Flask

from core.db import db
from pixel import api, hits, lane, openapi, suppressions_api, unsubscribe
from pixel.page_texts import load_page_texts
from pixel.recording import HitRecorder


def init_app(app: Flask) -> None:
    """Add the email API, the pixel, link and beacon endpoints (to Flask and to the fast
    lane), the recipient's pages and the suppressions feed, with their operations."""
    app.extensions["email_page_texts"] = load_page_texts()
    app.register_blueprint(api.bp)
    app.register_blueprint(hits.bp)
    app.register_blueprint(suppressions_api.bp)
    app.register_blueprint(unsubscribe.bp)
    app.extensions["openapi"].add(openapi.OPERATIONS)
    with app.app_context():
        engine = db.engine
    app.extensions["pixel.hits"] = HitRecorder(
        app.extensions["events"],
        app.config["SECRET_KEYS"],
        signal_policy=lambda site_id: _signal_policy(app, site_id),
        engine=engine,
    )
    lane.install(app)


def _signal_policy(app: Flask, site_id: str) -> str:
    # A message's site may have left the sites file since: the strictest policy then.
    site = app.extensions["sites"].get(site_id)
    return site.signal_policy if site is not None else "strict"
