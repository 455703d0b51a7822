"""Reading JSON request bodies into pydantic models, with errors a client can act on."""

from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from core.errors import BadRequest, Unprocessable, UnsupportedMediaType
from core.validation import describe

# text/plain lets a page send a body without a CORS preflight (and navigator.sendBeacon);
# the origin is checked on the request itself either way.
JSON_TYPES = ("application/json", "text/plain")
M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M]) -> M:
    """Parse the request body as ``model``; 400 for malformed JSON, 422 for wrong content."""
    if request.mimetype not in JSON_TYPES:
        raise UnsupportedMediaType("send the body as application/json")
    raw = read_body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise BadRequest(f"malformed JSON: {first['msg']}", code="malformed_json") from e
        raise Unprocessable(describe(e), code="invalid") from e


def read_body() -> bytes:
    """Return the whole body; 413 when it is over MAX_CONTENT_LENGTH, however it is framed."""
    limit = request.max_content_length
    if request.content_length is not None or limit is None:
        # Werkzeug refuses a declared length over the limit before reading anything.
        return request.get_data(cache=False)
    if not request.environ.get("wsgi.input_terminated"):
        # A stream of unknown length the server does not end could block a worker
        # forever: Werkzeug reads it as empty, and so do we.
        return b""
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
