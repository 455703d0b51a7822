"""``consentry sites``: the configured sites and their proof chains."""

import click
from flask import current_app
from flask.cli import AppGroup

from consent import chain

sites_cli = AppGroup("sites", help="Sites and their proof.")


@sites_cli.command("verify")
@click.argument("site_id", required=False)
def verify_sites(site_id: str | None):
    """Recompute the hash chain of one site (or all) and report tampering."""
    site_ids = [site_id] if site_id else list(current_app.extensions["sites"].sites)
    broken = 0
    for sid in site_ids:
        report = chain.verify_chain(sid)
        if report.valid:
            click.echo(f"{sid}: {report.records} records, chain intact")
        else:
            broken += 1
            click.echo(f"{sid}: BROKEN at record {report.broken_at}: {report.reason}")
    if broken:
        raise SystemExit(1)
