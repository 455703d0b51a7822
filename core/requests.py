"""Reading JSON request bodies into pydantic models, with errors a client can act on."""

import json
from typing import Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from core.errors import BadRequest, Unprocessable, UnsupportedMediaType
from core.validation import describe

# text/plain lets a page send a body without a CORS preflight (and navigator.sendBeacon);
# the origin is checked on the request itself either way.
JSON_TYPES = ("application/json", "text/plain")
M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], limit: int | None = None) -> M:
    """Parse the request body as ``model``; 400 for malformed JSON, 422 for wrong content.

    ``limit`` raises this request's byte limit above MAX_CONTENT_LENGTH (a batch, an email).
    """
    if request.mimetype not in JSON_TYPES:
        raise UnsupportedMediaType("send the body as application/json")
    if limit is not None:
        # Flask reads the limit from here for this request only, declared length or not.
        request.max_content_length = limit
    return parse_json(model, read_body())


def parse_json(model: type[M], raw: bytes) -> M:
    """Parse a JSON body as ``model``; 400 for malformed JSON, 422 for wrong content."""
    _refuse_duplicate_keys(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise BadRequest(f"malformed JSON: {first['msg']}", code="malformed_json") from e
        raise Unprocessable(describe(e), code="invalid") from e


def _refuse_duplicate_keys(raw: bytes) -> None:
    # pydantic keeps the last of two equal keys: {"site":"x","site":"demo"} would mean
    # whatever the reader's parser picks. The stdlib parser hands every object's pairs
    # to the hook, at any depth, with escapes already decoded.
    try:
        _UNIQUE_KEYS.decode(raw.decode())
    except (ValueError, RecursionError):
        return  # not JSON (or nested too deep): pydantic's parser says so next


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadRequest(
                    f"duplicate key {key!r}: a key may appear once in a JSON object",
                    code="duplicate_key",
                )
            seen.add(key)
    return members


# Built once: json.loads with a hook builds a decoder each call, three times the cost.
# Threads may share it: its only state is a cache of key strings, cleared after each call.
_UNIQUE_KEYS = json.JSONDecoder(object_pairs_hook=_unique_keys)


def read_body() -> bytes:
    """Return the whole body; 413 when it is over MAX_CONTENT_LENGTH, however it is framed."""
    environ = request.environ
    # Plain keys, not Werkzeug's properties: this runs on every decision.
    if "CONTENT_LENGTH" in environ and "HTTP_TRANSFER_ENCODING" not in environ:
        # A declared length: Werkzeug refuses one over the limit before reading anything.
        return request.get_data(cache=False)
    if not environ.get("wsgi.input_terminated"):
        # A stream of unknown length the server does not end could block a worker
        # forever: Werkzeug reads it as empty, and so do we.
        return b""
    # A positive int: core.config, or the view's own limit (parse_body).
    limit: int = request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"]
    # Chunked: Werkzeug's stream ends quietly at the limit, so a longer body would be
    # cut and parsed. Read one byte past the limit from the server's de-chunked stream.
    stream, parts, size = request.input_stream, [], 0
    while size <= limit:
        part = stream.read(limit + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise RequestEntityTooLarge()
    return b"".join(parts)
