"""Security headers on every response, added as the response starts (a WSGI middleware)."""

from collections.abc import Callable, Iterable


class SecurityHeaders:
    """Add the headers a response does not set itself: ``always`` to every response, and
    ``html`` to HTML pages too. A 204 is sent without a ``Content-Type``.

    At the WSGI layer the headers are a plain list of pairs, so this costs a couple of µs
    a response; as a Flask ``after_request`` hook, going through werkzeug's ``Headers``,
    it cost several times more on the busiest API route.
    """

    def __init__(self, app: Callable, always: dict[str, str], html: dict[str, str]):
        self.app = app
        self._always = list(always.items())
        self._html = list(html.items())

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            if status.startswith("204"):
                # No content has no type (Werkzeug gives every response one), and what
                # has no type is no page: no page policy either.
                headers = [(n, v) for n, v in headers if n.lower() != "content-type"]
            present = {name.lower() for name, _ in headers}
            is_html = any(
                name.lower() == "content-type" and value.startswith("text/html")
                for name, value in headers
            )
            for name, value in self._always + (self._html if is_html else []):
                if name.lower() not in present:
                    headers.append((name, value))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
