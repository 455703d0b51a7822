"""Analytics: report queries over the ClickHouse rollups, the report API and CLI.

The app shell calls :func:`init_app`. Everything here reads rollups through the event
store (``app.extensions["events"].clickhouse``); nothing reads either half's SQL tables.
"""

from flask import Flask

from analytics import api, cli, openapi


def init_app(app: Flask) -> None:
    """Add the report API, its operations and the ``report`` commands."""
    app.register_blueprint(api.bp)
    app.extensions["openapi"].add(openapi.OPERATIONS)
    app.cli.add_command(cli.report_cli)
