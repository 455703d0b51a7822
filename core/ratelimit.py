"""Rate limits: one Flask-Limiter per app, shared by every part that limits a route.

The app shell calls :func:`init_app` before the halves; a half limits one of its routes
with :func:`limit_view`. Counters live in ``RATELIMIT_STORAGE_URL``: ``memory://`` (each
process counts alone) by default, a shared store such as ``redis://host:6379/0`` when
several workers serve. Only routes named here are limited: the busy endpoints (banner
API, pixel, links) never pay for a counter. A request over its limit is answered 429 with
``Retry-After`` by the app's error handler.
"""

from collections.abc import Callable

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

EXTENSION = "limiter"


def init_app(app: Flask) -> Limiter:
    """Make the app's limiter (one per app: tests build several) from its config."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config["RATELIMIT_STORAGE_URL"],
        strategy="moving-window",
        headers_enabled=True,
        key_prefix="consentry",
    )
    app.extensions[EXTENSION] = limiter
    return limiter


def limit_view(app: Flask, endpoint: str, limits: str, **options) -> None:
    """Limit the POSTs of a registered ``endpoint`` to ``limits`` ("5 per minute;30 per
    hour"), per client address unless ``options`` give another ``key_func``.

    Flask-Limiter checks a decorated view inside its wrapper, so the app's own route is
    wrapped (a module-level decorator would bind one app's limiter to every app).
    """
    limiter: Limiter = app.extensions[EXTENSION]
    view: Callable = app.view_functions[endpoint]
    app.view_functions[endpoint] = limiter.limit(limits, methods=["POST"], **options)(view)
