"""The consent half: sites, regions, signals, proof records, their chain and receipts, the API.

The app shell (``consentry.create_app``) calls :func:`init_app`; nothing here sees the
email half.
"""

from flask import Flask

from consent import api, banner, cli, lane, openapi, pages, reconcile
from consent.grants import ConsentGrants
from consent.sites import load_sites


def init_app(app: Flask) -> None:
    """Load the sites file and add the consent API (its decisions to the fast lane too),
    pages, banner script and commands."""
    app.extensions["sites"] = load_sites(app.config["SITES_FILE"])
    # What a consent id grants now: the web beacon (pixel) reads it here, not by import.
    app.extensions["consent_grants"] = ConsentGrants(app.extensions["sites"])
    for blueprint in (api.bp, pages.bp, banner.bp):
        app.register_blueprint(blueprint)
    app.extensions["openapi"].add(openapi.OPERATIONS)
    app.extensions["openapi"].add(banner.OPERATIONS)
    lane.install(app)
    app.cli.add_command(cli.sites_cli)
    reconcile.install(app)
