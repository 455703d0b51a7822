"""The analysts' dashboard at /dashboard: campaign and consent rates with charts, behind a
login (accounts from ``consentry users``), a session cookie and CSRF tokens on its forms.

It reads numbers only through :mod:`analytics`' report functions. The app shell calls
:func:`init_app`.
"""

from flask import Flask
from flask_login import LoginManager

from dashboard import cli, sessions, users, views

login_manager = LoginManager()


@login_manager.user_loader
def load_user(session_id: str) -> users.User | None:
    """The account the session cookie names, if it still exists with the same password."""
    return users.load_session_user(session_id)


def init_app(app: Flask) -> None:
    """Add the dashboard, its session and CSRF protection, and the ``users`` commands."""
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
    app.cli.add_command(cli.users_cli)
