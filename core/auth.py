"""The view-side guard for API keys: ``Authorization: Bearer <key>``."""

from functools import wraps

from flask import g, request

from core.errors import Unauthorized
from core.keys import authenticate

# RFC 6750 §3.1: a key was sent but is not valid.
INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def require_api_key(view):
    """Let the view run only for a request that carries an active API key."""

    @wraps(view)
    def guarded(*args, **kwargs):
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        g.api_key = authenticate(key.strip())
        if g.api_key is None:
            raise Unauthorized(
                "the API key is unknown or revoked", code="invalid_api_key", headers=INVALID_TOKEN
            )
        return view(*args, **kwargs)

    return guarded
