"""The email half: recipients, messages and suppressions, their tokens, the minting API,
the recipient's pages (``/u/<token>``) and the suppressions feed.

The app shell (``consentry.create_app``) calls :func:`init_app`; nothing here sees the
consent half. It shares ``core`` (config, SQL store, errors, signing) and ``events`` (the
ClickHouse pipeline) with it.
"""

from flask import Flask

from pixel import api, openapi, suppressions_api, unsubscribe
from pixel.page_texts import load_page_texts


def init_app(app: Flask) -> None:
    """Add the email API, the recipient's pages and their operations."""
    app.extensions["email_page_texts"] = load_page_texts()
    app.register_blueprint(api.bp)
    app.register_blueprint(suppressions_api.bp)
    app.register_blueprint(unsubscribe.bp)
    app.extensions["openapi"].add(openapi.OPERATIONS)
