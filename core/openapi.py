"""OpenAPI 3.1 from the pydantic models that validate the API: operations and the document.

Each half of Consentry lists its own operations; the app shell collects them in one
:class:`ApiDescription` (``app.extensions["openapi"]``) and serves the document. What every
operation shares is added here, not listed by hand: the 405 answer with ``Allow`` (any
other method on the path), the 304 of a conditional GET, the 401 of an API key.
"""

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

# The media types a request body may be sent as (core.requests.JSON_TYPES): text/plain lets a
# page send it without a CORS preflight, with navigator.sendBeacon too; both carry JSON.
BODY_TYPES = ("application/json", "text/plain")
# Werkzeug's spelling of an ``Allow`` header: methods, comma and space.
_ALLOW = r"^[A-Z]+(, [A-Z]+)*$"


class ErrorBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}}``."""

    model_config = ConfigDict(frozen=True)

    error: ErrorBody


def header(description: str, *, required: bool = True, **schema) -> dict:
    """A response header (by default one that is always sent), its value a string."""
    return {
        "description": description,
        "required": required,
        "schema": {"type": "string", **schema},
    }


def parameter(
    name: str, where: str, description: str, *, example: str | None = None, **schema
) -> dict:
    """A path, query or header parameter, its value a string; path parameters are required."""
    documented = {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": {"type": "string", **schema},
    }
    if example is not None:
        documented["example"] = example
    return documented


@dataclass(frozen=True)
class Op:
    """One documented operation."""

    method: str
    path: str
    summary: str
    description: str = ""
    parameters: tuple[dict, ...] = ()
    body: type[BaseModel] | None = None
    example: dict | None = None  # one realistic request body; every body has one
    status: int = 200
    answer: type[BaseModel] | None = None
    headers: dict[str, dict] = field(default_factory=dict)  # the success answer's, by name
    links: dict[str, dict] = field(default_factory=dict)  # from the success answer, by name
    errors: dict[int, str] = field(default_factory=dict)  # status -> when it is answered
    also: dict[int, str] = field(default_factory=dict)  # statuses answered with `answer` too
    auth: bool = False
    conditional: bool = False  # sends an ETag; a matching If-None-Match answers 304
    # Other media types the success answer may come as (e.g. text/csv), by type: schema.
    media: dict[str, dict] = field(default_factory=dict)
    body_limit: int | None = None  # bytes, when the view allows more than MAX_CONTENT_LENGTH

    def __post_init__(self):
        # A wrong example would teach clients a body the server refuses: check it as the
        # server does (strict JSON), once, when the operation is declared.
        if (self.body is None) != (self.example is None):
            raise ValueError(f"{self.operation_id}: a request body needs exactly one example")
        if self.body is not None:
            self.body.model_validate_json(json.dumps(self.example))

    @property
    def operation_id(self) -> str:
        return operation_id(self.method, self.path)


def operation_id(method: str, path: str) -> str:
    """The operationId of ``method path``: ``get /api/v1/x/{id}`` -> ``get_api_v1_x_id``."""
    return "_".join(filter(None, re.split(r"[^a-z0-9]+", f"{method} {path}".lower())))


class ApiDescription:
    """The operations every part of the app added, and the OpenAPI document built from them."""

    def __init__(self, title: str, description: str, version: str):
        self.title = title
        self.description = description
        self.version = version
        self.operations: list[Op] = []

    def add(self, operations: list[Op]) -> None:
        """Document more operations (before the first request builds the document)."""
        self.operations.extend(operations)
        self.__dict__.pop("document", None)

    @cached_property
    def document(self) -> dict:
        """The OpenAPI 3.1 document of every added operation."""
        refs, components = _schemas(self.operations)
        paths: dict[str, dict] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
        return {
            "openapi": "3.1.0",
            "info": {
                "title": self.title,
                "version": self.version,
                "description": self.description,
            },
            "paths": paths,
            "components": {
                "schemas": components,
                "securitySchemes": {
                    "apiKey": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An API key from `consentry keys create NAME`.",
                    }
                },
            },
        }


def _operation(op: Op, refs: dict) -> dict:
    operation: dict = {"summary": op.summary, "operationId": op.operation_id}
    if op.description:
        operation["description"] = op.description
    operation["parameters"] = list(op.parameters)
    if op.conditional:
        operation["parameters"].append(IF_NONE_MATCH)
    if op.body is not None:
        limit = (
            f"{op.body_limit // 1024:,} KB"
            if op.body_limit
            else "16 KB (`CONSENTRY_MAX_CONTENT_LENGTH`)"
        )
        operation["requestBody"] = {
            "required": True,
            "description": f"JSON of at most {limit}, sent as `application/json` or `text/plain`.",
            "content": {
                media_type: {"schema": refs[op.body], "example": op.example}
                for media_type in BODY_TYPES
            },
        }
    ok: dict = {"description": HTTPStatus(op.status).phrase}
    headers = dict(op.headers)
    if op.conditional:
        headers["ETag"] = ETAG
    if headers:
        ok["headers"] = headers
    if op.answer is not None:
        ok["content"] = _json(refs[op.answer])
    if op.media:
        ok["content"] = ok.get("content", {}) | {t: {"schema": m} for t, m in op.media.items()}
    if op.links:
        ok["links"] = op.links
    responses = {str(op.status): ok}
    for code, text in op.also.items():
        responses[str(code)] = {**ok, "description": text}
    if op.conditional:
        responses["304"] = {
            "description": "Not modified: `If-None-Match` names the current ETag; no body",
            "headers": {"ETag": ETAG},
        }
    errors = dict(op.errors)
    if op.auth:
        errors.setdefault(401, "No API key, or an unknown or revoked one")
    errors.setdefault(405, "Another method than this path's; `Allow` lists those it has")
    for code, text in sorted(errors.items()):
        responses[str(code)] = _error(op.path, code, text)
    operation["responses"] = responses
    if op.auth:
        operation["security"] = [{"apiKey": []}]
    return operation


ETAG = header("The answer's version, for `If-None-Match`", pattern=r'^(W/)?"[^"]*"$')
IF_NONE_MATCH = parameter(
    "If-None-Match",
    "header",
    "An ETag this client holds: when it is still current the answer is 304.",
)
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": header("A Bearer challenge", pattern=r"^Bearer\b")},
    405: {"Allow": header("The methods this path has", pattern=_ALLOW)},
}


def _error(path: str, code: int, text: str) -> dict:
    # As core.errors renders them: JSON under /api/, the error page elsewhere.
    if path.startswith("/api/"):
        content = _json({"$ref": "#/components/schemas/ErrorOut"})
    else:
        content = {"text/html": {"schema": {"type": "string"}}}
    response = {"description": text, "content": content}
    if code in _ERROR_HEADERS:
        response["headers"] = _ERROR_HEADERS[code]
    return response


class _AsValidated(GenerateJsonSchema):
    """Pydantic's JSON schemas, saying what validation refuses where pydantic's do not."""

    def dict_schema(self, schema) -> dict:
        json_schema = super().dict_schema(schema)
        # A key that does not match its pattern fails validation, whatever its value;
        # pydantic lists only the pattern, which lets any other key through.
        if "patternProperties" in json_schema:
            json_schema["additionalProperties"] = False
        return json_schema


def _schemas(operations: list[Op]) -> tuple[dict, dict]:
    models = {m for op in operations for m in (op.body, op.answer) if m is not None}
    models.add(ErrorOut)
    keys, top = models_json_schema(
        [(m, "validation" if m.__name__.endswith("In") else "serialization") for m in models],
        ref_template="#/components/schemas/{model}",
        schema_generator=_AsValidated,
    )
    return {model: ref for (model, _), ref in keys.items()}, top["$defs"]


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}
