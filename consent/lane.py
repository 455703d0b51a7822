"""``POST /api/v1/consents`` in the fast lane (core.fastlane): a banner's decision recorded
without Flask's request machinery, by the same functions as the view (consent.api), with
the same status, headers and body.

The handler takes only the plain form of a decision and leaves everything else to Flask,
before it has written anything:

- exactly this path, no query string, no cookies, a declared ``Content-Length`` within
  ``MAX_CONTENT_LENGTH`` (not chunked) and a JSON content type as ``parse_body`` reads it;
- a body ``DecisionIn`` accepts (no duplicate keys), for a configured site, from an origin
  that site allows on another host than this one (a page on the API's own host gets its
  consent cookie from the view), with a well-formed ``Idempotency-Key`` if any;
- a decision the domain accepts: a refusal (``ConsentryError``: unknown category, outdated
  policy, full spool…) is raised before anything is written, and Flask raises it again.

Once the body is read it is put back as ``wsgi.input``, so a request the handler leaves
(or fails on) reaches Flask whole. Nothing is committed before ``record_decision`` returns
(a failed decision commits nothing; with an ``Idempotency-Key``, Flask's retry answers a
committed record as a replay), so Flask may always take a failure over. Past the commit,
the answer is built here whatever happens: a failure there is a 500, as core.errors renders
one, never a second decision.

No Flask request hook applies to this route: the app's are the preflight answer
(``OPTIONS`` only), the dashboard's CSRF check and session, the rate limiter (it limits
only the privacy portal's form, unless default limits are configured: then this handler
is not installed) and CORS, whose two headers are written here as consent.cors writes them.
"""

import io
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache

from flask import Flask
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import InternalServerError
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_host

from consent import idempotency, records
from consent.consent_cookie import same_host
from consent.receipts import issue_receipt
from consent.records import Decided
from consent.schemas import DecisionIn, decision_json
from core.errors import ConsentryError
from core.fastlane import Answer, FastLane
from core.requests import JSON_TYPES, parse_json

log = logging.getLogger(__name__)

PATH = "/api/v1/consents"
# Flask settings that act on every route, which the lane does not apply.
_EVERY_ROUTE = ("SERVER_NAME", "RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION")


def install(app: Flask) -> None:
    """Add the decision handler to the app's fast lane."""
    config = app.config
    if any(config.get(name) for name in _EVERY_ROUTE):
        return
    lane: FastLane = app.extensions["fastlane"]
    extensions = app.extensions

    def create_consent(environ: dict) -> Answer | None:
        raw = _plain_body(environ, config["MAX_CONTENT_LENGTH"])
        if raw is None:
            return None
        try:
            decision = parse_json(DecisionIn, raw)
            header = environ.get("HTTP_IDEMPOTENCY_KEY")
            key = None
            if header is not None:
                key = idempotency.request_key(idempotency.parse_key(header), decision)
        except ConsentryError:
            return None
        site = extensions["sites"].get(decision.site)
        origin = environ.get("HTTP_ORIGIN")
        if site is None or (
            origin is not None
            and (not site.allows_origin(origin) or same_host(origin, get_host(environ)))
        ):
            return None
        visit = records.read_visit(
            site,
            origin,
            _Headers(environ),
            environ.get("REMOTE_ADDR"),
            config["REGION_HEADERS"],
            datetime.now(UTC),
        )
        with app.app_context():
            try:
                decided = records.record_decision(site, decision, visit, extensions["events"], key)
            except ConsentryError:
                return None  # refused before anything was written: Flask refuses it again
            return _answer(app, decided, origin)

    lane.add(("POST",), PATH, create_consent)


class _Headers(Mapping[str, str]):
    """A request's headers as ``EnvironHeaders`` reads them from the WSGI environ, but
    ``get`` of a missing one (most of the signal and region headers) raises nothing."""

    def __init__(self, environ: dict):
        self._environ = environ

    def get(self, name: str, default=None):  # type: ignore[override]
        return self._environ.get(_environ_key(name), default)

    def __getitem__(self, name: str) -> str:
        return EnvironHeaders(self._environ)[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in EnvironHeaders(self._environ))

    def __len__(self) -> int:
        return len(EnvironHeaders(self._environ))


@lru_cache(maxsize=64)
def _environ_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"


def _plain_body(environ: dict, limit: int) -> bytes | None:
    """Read the body of a plain decision request and put it back; None for any other."""
    if (
        environ.get("PATH_INFO") != PATH
        or environ.get("QUERY_STRING")
        or "HTTP_COOKIE" in environ
        or "HTTP_TRANSFER_ENCODING" in environ
        or parse_options_header(environ.get("CONTENT_TYPE"))[0].lower() not in JSON_TYPES
    ):
        return None
    declared = environ.get("CONTENT_LENGTH", "")
    if not (declared.isascii() and declared.isdigit()) or int(declared) > limit:
        return None
    length, stream, parts, size = int(declared), environ["wsgi.input"], [], 0
    while size < length:
        part = stream.read(length - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    raw = b"".join(parts)
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw if size == length else None


def _answer(app: Flask, decided: Decided, origin: str | None) -> Answer:
    """The view's answer to a recorded decision: 201, its JSON, no-store and CORS headers."""
    try:
        record = decided.record
        body = decision_json(record, issue_receipt(app.config["SECRET_KEYS"], record))
    except Exception:
        # Committed already: Flask taking over would record the decision a second time.
        log.exception("a decision was recorded but its answer failed")
        return _failed(app, origin)
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]
    if decided.replayed:
        headers.append(("Idempotent-Replayed", "true"))
    return Answer("201 CREATED", (*headers, *_cors(origin)), body)


def _failed(app: Flask, origin: str | None) -> Answer:
    # As core.errors renders a 500 on the API (its jsonify is this response's body).
    error = {"code": "internal_error", "message": InternalServerError.description}
    body = app.json.response(error=error).get_data()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return Answer("500 INTERNAL SERVER ERROR", (*headers, *_cors(origin)), body)


def _cors(origin: str | None) -> list[tuple[str, str]]:
    # As consent.cors's after_request hook adds them to an answer without a Vary header.
    vary = [("Vary", "Origin")]
    return vary if origin is None else [*vary, ("Access-Control-Allow-Origin", origin)]
