"""One error path: domain errors are raised, one handler renders them.

API requests (paths under ``/api/``) get ``{"error": {"code", "message"}}``; pages get a
template from ``templates/errors/``. Headers an error carries (``Allow`` of a 405,
``WWW-Authenticate`` of a 401) go on either.
"""

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException


class ConsentryError(Exception):
    """Base of every error Consentry raises on purpose; carries an HTTP status, a code and
    the headers its answer needs."""

    status = 400
    code = "bad_request"
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(
        self, message: str, *, code: str | None = None, headers: Mapping[str, str] | None = None
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if headers is not None:
            self.headers = headers


class BadRequest(ConsentryError):
    status, code = 400, "bad_request"


class Unauthorized(ConsentryError):
    status, code = 401, "unauthorized"
    # RFC 9110 §15.5.2: a 401 names the scheme that would be accepted (RFC 6750: Bearer).
    headers = MappingProxyType({"WWW-Authenticate": "Bearer"})


class Forbidden(ConsentryError):
    status, code = 403, "forbidden"


class NotFound(ConsentryError):
    status, code = 404, "not_found"


class Conflict(ConsentryError):
    status, code = 409, "conflict"


class UnsupportedMediaType(ConsentryError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(ConsentryError):
    status, code = 422, "invalid"


class Unavailable(ConsentryError):
    status, code = 503, "unavailable"


# Codes for errors Werkzeug raises before a view runs (routing, body size, methods).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(
    status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    if _wants_json():
        response = jsonify(error={"code": code, "message": message})
    else:
        response = make_response(
            render_template("errors/error.html", status=status, message=message)
        )
    response.status_code = status
    for name, value in headers:
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    """Render every ConsentryError and HTTP error through one path."""

    @app.errorhandler(ConsentryError)
    def handle_domain_error(error: ConsentryError):
        return _render(error.status, error.code, error.message, error.headers.items())

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        # Keep headers such as Allow (405) that Werkzeug attaches; the body is ours.
        headers = [(n, v) for n, v in error.get_headers() if n.lower() != "content-type"]
        message = error.description or error.name
        return _render(status, _HTTP_CODES.get(status, "error"), message, headers)
