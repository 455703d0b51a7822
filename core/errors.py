"""One error path: domain errors are raised, one handler renders them.

API requests (paths under ``/api/``) get ``{"error": {"code", "message"}}``; pages get a
template from ``templates/errors/``.
"""

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


class ConsentryError(Exception):
    """Base of every error Consentry raises on purpose; carries an HTTP status and a code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(ConsentryError):
    status, code = 400, "bad_request"


class Unauthorized(ConsentryError):
    status, code = 401, "unauthorized"


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


def _render(status: int, code: str, message: str):
    if _wants_json():
        response = jsonify(error={"code": code, "message": message})
    else:
        response = render_template("errors/error.html", status=status, message=message)
    return response, status


def register_error_handlers(app: Flask) -> None:
    """Render every ConsentryError and HTTP error through one path."""

    @app.errorhandler(ConsentryError)
    def handle_domain_error(error: ConsentryError):
        return _render(error.status, error.code, error.message)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        code = _HTTP_CODES.get(status, "error")
        response, status = _render(status, code, error.description or error.name)
        # Keep headers such as Allow (405) that Werkzeug attaches to the error.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status
