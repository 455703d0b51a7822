"""App-wide commands: migrations of both stores, API keys; each part adds its own groups."""

from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import cli as migrate_cli
from flask_migrate import upgrade as sql_upgrade

from consent.chain import sync_sites
from core import keys


@click.group("db", help=migrate_cli.db.help)
@click.option("-d", "--directory", default=None, help="Migration script directory.")
@click.option("-x", "--x-arg", multiple=True, help="Extra arguments for env.py.")
@click.pass_context
def db_cli(ctx, directory, x_arg):
    # Flask-Migrate's commands read these from its own group's callback; run it as is.
    ctx.invoke(migrate_cli.db.callback, directory=directory, x_arg=x_arg)


@db_cli.command("upgrade")
@click.option("--sql-only", is_flag=True, help="Only the SQL store (leave ClickHouse alone).")
@click.argument("revision", default="head")
@with_appcontext
def upgrade(sql_only: bool, revision: str):
    """Apply SQL (Alembic) and ClickHouse migrations, then sync sites from the sites file."""
    sql_upgrade(revision=revision)
    sync_sites(current_app.extensions["sites"], datetime.now(UTC))
    click.echo("SQL: up to date; sites synced.")
    if sql_only:
        return
    pipeline = current_app.extensions["events"]
    try:
        applied = pipeline.upgrade_schema()
    finally:
        pipeline.clickhouse.close()
    click.echo(
        f"ClickHouse: applied {', '.join(applied)}" if applied else "ClickHouse: up to date."
    )


for _name, _command in migrate_cli.db.commands.items():
    if _name != "upgrade":
        db_cli.add_command(_command, _name)


@click.group("keys")
def keys_cli():
    """Manage API keys."""


@keys_cli.command("create")
@click.argument("name")
@with_appcontext
def create_key(name: str):
    """Create an API key; the key is printed once, alone on the last line."""
    try:
        key = keys.create_key(name)
    except keys.ApiKeyError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"Created API key {name!r}. Store it now; it cannot be shown again:", err=True)
    click.echo(key)


@keys_cli.command("revoke")
@click.argument("name")
@with_appcontext
def revoke_key(name: str):
    """Revoke the active key with this name."""
    if not keys.revoke_key(name):
        raise click.ClickException(f"no active key named {name!r}")
    click.echo(f"Revoked {name!r}.")


@keys_cli.command("list")
@with_appcontext
def list_keys():
    """List keys: name, prefix, created, last used, revoked."""
    for key in keys.list_keys():
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(
            f"{key.name}\t{keys.PREFIX}{key.lookup}…\tcreated {key.created_at:%Y-%m-%d}"
            f"\tlast used {used}\t{state}"
        )


def register(app: Flask) -> None:
    """Add the app-wide command groups to the app's CLI."""
    # Replaces Flask-Migrate's own "db" group: same commands, upgrade does both stores.
    for group in (db_cli, keys_cli):
        app.cli.add_command(group)
