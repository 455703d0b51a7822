"""``consentry retention run``: apply the retention periods now."""

from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from privacy import retention

retention_cli = AppGroup("retention", help="Apply data retention periods.")


@retention_cli.command("run")
def run_retention() -> None:
    """Delete what is past its retention period; print what went."""
    removed = retention.run(retention.Periods.from_config(current_app.config), datetime.now(UTC))
    for name, count in removed.items():
        click.echo(f"{name}: {count}")
