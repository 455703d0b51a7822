"""``consentry users create|list|delete``: the dashboard's accounts, made on the server."""

import sys

import click
from flask.cli import AppGroup

from dashboard import users

users_cli = AppGroup("users", help="Manage dashboard accounts.")


@users_cli.command("create")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (one line)."
)
def create_user(name: str, password_stdin: bool) -> None:
    """Create a dashboard account; the password is asked for (never an argument)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = users.create_user(name, password)
    except users.UserError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"Created dashboard user {user.name!r}.")


@users_cli.command("list")
def list_users() -> None:
    """List accounts: name, created, last login."""
    for user in users.list_users():
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        click.echo(f"{user.name}\tcreated {user.created_at:%Y-%m-%d}\tlast login {last}")


@users_cli.command("delete")
@click.argument("name")
def delete_user(name: str) -> None:
    """Delete an account; its open sessions end at their next request."""
    if not users.delete_user(name):
        raise click.ClickException(f"no user named {name!r}")
    click.echo(f"Deleted {name!r}.")
