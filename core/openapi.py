"""OpenAPI 3.1 from the pydantic models that validate the API: operations and the document.

Each half of Consentry lists its own operations; the app shell collects them in one
:class:`ApiDescription` (``app.extensions["openapi"]``) and serves the document.
"""

import re
from dataclasses import dataclass, field
from functools import cached_property

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema


class ErrorBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}}``."""

    model_config = ConfigDict(frozen=True)

    error: ErrorBody


@dataclass(frozen=True)
class Op:
    """One documented operation."""

    method: str
    path: str
    summary: str
    description: str = ""
    parameters: tuple[dict, ...] = ()
    body: type[BaseModel] | None = None
    status: int = 200
    answer: type[BaseModel] | None = None
    errors: dict[int, str] = field(default_factory=dict)  # status -> when it is answered
    auth: bool = False

    @property
    def operation_id(self) -> str:
        return "_".join(filter(None, re.split(r"[^a-z0-9]+", f"{self.method} {self.path}".lower())))


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
        error = {"$ref": "#/components/schemas/ErrorOut"}
        paths: dict[str, dict] = {}
        for op in self.operations:
            operation: dict = {
                "summary": op.summary,
                "operationId": op.operation_id,
                "parameters": list(op.parameters),
            }
            if op.description:
                operation["description"] = op.description
            if op.body is not None:
                operation["requestBody"] = {"required": True, "content": _content(refs[op.body])}
            ok: dict = {"description": "OK"}
            if op.answer is not None:
                ok["content"] = _content(refs[op.answer])
            operation["responses"] = {str(op.status): ok} | {
                str(code): {"description": text, "content": _content(error)}
                for code, text in sorted(op.errors.items())
            }
            if op.auth:
                operation["security"] = [{"apiKey": []}]
            paths.setdefault(op.path, {})[op.method] = operation
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
                "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            },
        }


def _schemas(operations: list[Op]) -> tuple[dict, dict]:
    models = {m for op in operations for m in (op.body, op.answer) if m is not None}
    models.add(ErrorOut)
    keys, top = models_json_schema(
        [(m, "validation" if m.__name__.endswith("In") else "serialization") for m in models],
        ref_template="#/components/schemas/{model}",
    )
    return {model: ref for (model, _), ref in keys.items()}, top["$defs"]


def _content(ref: dict) -> dict:
    return {"application/json": {"schema": ref}}
