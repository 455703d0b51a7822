"""``consentry events``: ship spools left by dead processes and show the backlog."""

import click
from flask import current_app
from flask.cli import AppGroup

events_cli = AppGroup("events", help="Ship and inspect the local event spool.")


@events_cli.command("ship")
@click.option("--drain", is_flag=True, help="Retry until every spool it can lock is shipped.")
@click.option("--timeout", default=60.0, show_default=True, help="Give up after this many seconds.")
def ship(drain: bool, timeout: float) -> None:
    """Adopt and ship every spool no live process holds, then exit."""
    pipeline = current_app.extensions["events"]
    try:
        done = pipeline.flush(timeout, retry=drain)
    finally:
        pipeline.stop(timeout=0)
    left = pipeline.backlog()
    click.echo(
        f"shipped {pipeline.shipped_events} events; "
        f"left {left.events} events ({left.bytes} bytes) in {left.spools} spools"
    )
    if not done:
        raise click.ClickException("not everything could be shipped; see the log")


@events_cli.command("status")
def status() -> None:
    """Print the unshipped backlog of each spool directory."""
    backlog = current_app.extensions["events"].backlog()
    for name, (events, nbytes) in sorted(backlog.per_spool.items()):
        click.echo(f"{name}\t{events} events\t{nbytes} bytes")
    click.echo(
        f"total\t{backlog.events} events\t{backlog.bytes} bytes\t{backlog.spools} spools"
        f"\t{backlog.rejected_events} rejected"
    )
