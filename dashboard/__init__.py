"""The analysts' dashboard at /dashboard: campaign and consent rates with charts, behind a
login (accounts from ``consentry users``), a session cookie and CSRF tokens on its forms.

It reads numbers only through :mod:`analytics`' report functions. The app shell calls
:func:`init_app`.
"""

from flask import Flask, Response
from flask_login import LoginManager

from core.ratelimit import limit_view
from dashboard import cli, sessions, users, views

login_manager = LoginManager()


@login_manager.user_loader
def load_user(session_id: str) -> users.User | None:
    """The account the session cookie names, if it still exists with the same password."""
    return users.load_session_user(session_id)


def _failed(response: Response) -> bool:
    # A login that worked redirects into the dashboard; anything else was a failed try.
    return response.status_code != 302


def init_app(app: Flask) -> None:
    """Add the dashboard, its session, CSRF protection and login rate limit, and the
    ``users`` commands."""
    sessions.configure(app)
    # Not app-wide: the dashboard blueprint checks its own POSTs (views.check_csrf).
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault(
        "WTF_CSRF_SECRET_KEY", sessions.derived_key(app.config["SECRET_KEYS"][0], "csrf")
    )
    views.csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "dashboard.login"
    login_manager.login_message = ""  # the login page says why it is shown
    # A session used from another address or browser is dropped, not merely marked stale.
    login_manager.session_protection = "strong"
    app.register_blueprint(views.bp)
    # Per client address, counting failed attempts only: guessing passwords is slowed
    # down, an analyst who logs in is not. The answer (429) is the same for any name.
    limit_view(
        app, "dashboard.login", app.config["DASHBOARD_LOGIN_RATE_LIMIT"], deduct_when=_failed
    )
    app.cli.add_command(cli.users_cli)
