"""The dashboard's login session: a signed cookie that exists under /dashboard only.

Everything else Consentry serves (the banner API, pixels, redirects) is stateless and
busy; Flask's cookie session would build a signing serializer for each of those requests.
So only paths under the dashboard open a session; elsewhere ``session`` is Flask's empty
null session. The cookie is keyed from ``CONSENTRY_SECRET_KEYS`` (signed with the first,
verified with all: rotation), under its own salt.
"""

import hashlib
import hmac

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

PREFIX = "/dashboard"
COOKIE = "consentry_dashboard"
SALT = "consentry.dashboard.session"
HOURS = 12  # an analyst's working day; then a new login


def derived_key(key: str, purpose: str) -> bytes:
    """A key for one purpose, so a dashboard cookie is never another token's signature."""
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).digest()


class DashboardSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, opened only for dashboard paths."""

    salt = SALT

    def __init__(self, keys: list[str]):
        # itsdangerous signs with the last key of its list and verifies with every one.
        self._serializer = URLSafeTimedSerializer(
            [derived_key(k, SALT) for k in reversed(keys)],
            salt=SALT,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer:
        return self._serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
            return self.make_null_session(app)
        return super().open_session(app, request)


def configure(app: Flask) -> None:
    """Cookie flags for the session: HttpOnly, SameSite=Lax, Secure behind https."""
    app.session_interface = DashboardSessions(app.config["SECRET_KEYS"])
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["PUBLIC_URL"].startswith("https://"),
        PERMANENT_SESSION_LIFETIME=HOURS * 3600,
        # Flask-Login's "remember me" cookie is never set (no login remembers), but its
        # session protection clears it: that clearing stays on the dashboard's path too.
        REMEMBER_COOKIE_NAME=COOKIE + "_remember",
        REMEMBER_COOKIE_PATH=PREFIX,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=app.config["PUBLIC_URL"].startswith("https://"),
    )
