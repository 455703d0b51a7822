"""The email half: recipients, messages and suppressions, their tokens, the minting API.

The app shell (``consentry.create_app``) calls :func:`init_app`; nothing here sees the
consent half. It shares ``core`` (config, SQL store, errors, signing) and ``events`` (the
ClickHouse pipeline) with it.
"""

from flask import Flask

from pixel import api, openapi


def init_app(app: Flask) -> None:
    """Add the email API and its operations."""
    app.register_blueprint(api.bp)
    app.extensions["openapi"].add(openapi.OPERATIONS)
