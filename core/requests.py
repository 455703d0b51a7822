"""Reading JSON request bodies into pydantic models, with errors a client can act on."""

from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

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
    raw = request.get_data(cache=False)
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise BadRequest(f"malformed JSON: {first['msg']}", code="malformed_json") from e
        raise Unprocessable(describe(e), code="invalid") from e
