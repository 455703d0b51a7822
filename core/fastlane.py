"""The fast lane: a few hot routes answered by plain handlers ahead of Flask's dispatch.

A request through Flask pays for its request object, URL routing, the app and request
contexts, every ``before_request`` and ``after_request`` hook of the app (the rate
limiter's among them) and a ``Response`` object: ~300 µs of CPU on this app, several
times what a pixel hit's own work costs. For the few routes that answer a flood of
requests with a fixed, tiny response (the email pixel), that is most of the server.

:class:`FastLane` is a WSGI middleware keyed by method and path prefix. A handler gets the
WSGI environ and returns an :class:`Answer`, or None to let Flask answer. The rules that
keep the two paths one behaviour:

- **Every lane route is also a Flask route**, served by the same domain functions; the lane
  only saves Flask's overhead. With ``CONSENTRY_FAST_LANE=false`` Flask serves them all
  (``tests/test_email_fastlane.py`` runs one table of requests through both and compares
  status, headers, body and logged events).
- **A handler answers only what it is sure to answer as Flask would**, and returns None
  for anything unusual (an odd path, a bad token on a route whose error is a page, a
  method it does not know) *before* it has done anything: Flask then handles the request
  from the start.
- **A handler that raises has not answered**: the lane logs the error and hands the request
  to Flask. A handler with side effects catches its own errors past its first one.
- The lane sits inside the app's WSGI middlewares (:class:`core.headers.SecurityHeaders`,
  ``ProxyFix``), so its answers get the same security headers and see the same client
  address as Flask's. Flask's request hooks do **not** run: a lane route must need none of
  them (see ``docs/performance.md`` §7 for the list checked).
- ``HEAD`` gets the ``GET`` answer's status and headers without its body, as from Flask.

``consentry.create_app`` builds the lane (``app.extensions["fastlane"]``) and the halves add
their routes in their ``init_app``, as they register blueprints::

    lane.add(("GET", "HEAD"), "/o/", open_pixel)
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import SecurityError
from werkzeug.wsgi import get_host

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete response: status line, every header (``Content-Length`` too), body."""

    status: str  # "200 OK"
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    @classmethod
    def of(cls, status: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> "Answer":
        """Build an answer whose ``Content-Length`` follows its headers, as Werkzeug sends it."""
        return cls(status, (*headers, ("Content-Length", str(len(body)))), body)


Handler = Callable[[dict[str, Any]], Answer | None]


class FastLane:
    """Answer the requests a handler takes; pass every other request to ``app`` (Flask).

    ``trusted_hosts`` is Flask's ``TRUSTED_HOSTS``: a request for another host goes to
    Flask, which refuses it.
    """

    def __init__(self, app: WSGIApp, trusted_hosts: list[str] | None = None) -> None:
        self.app = app
        self._trusted_hosts = trusted_hosts
        self._routes: dict[str, tuple[tuple[str, Handler], ...]] = {}

    def add(self, methods: Iterable[str], prefix: str, handler: Handler) -> None:
        """Send requests with one of ``methods`` whose path starts with ``prefix`` to
        ``handler``. The first handler added whose prefix matches decides: when it
        declines, Flask answers."""
        if not prefix.startswith("/"):
            raise ValueError(f"a path prefix starts with '/': {prefix!r}")
        for method in methods:
            self._routes[method] = (*self._routes.get(method, ()), (prefix, handler))

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        routes = self._routes.get(method)
        if routes:
            path = environ.get("PATH_INFO", "")
            for prefix, handler in routes:
                if path.startswith(prefix):
                    answer = self._ask(handler, environ)
                    if answer is None:
                        break
                    start_response(answer.status, list(answer.headers))
                    return [] if method == "HEAD" else [answer.body]
        return self.app(environ, start_response)

    def _ask(self, handler: Handler, environ: dict[str, Any]) -> Answer | None:
        if self._trusted_hosts and not _trusted(environ, self._trusted_hosts):
            return None
        try:
            return handler(environ)
        except Exception:
            log.exception("fast lane handler %s failed: Flask answers", handler)
            return None


def _trusted(environ: dict[str, Any], trusted_hosts: list[str]) -> bool:
    # Flask's own check, which it makes while routing: an untrusted host is its 400.
    try:
        get_host(environ, trusted_hosts)
    except SecurityError:
        return False
    return True
