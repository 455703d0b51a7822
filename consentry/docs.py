"""The API description: OpenAPI JSON and a readable page, from every part's operations."""

from flask import Blueprint, current_app, jsonify, render_template
from markupsafe import Markup, escape

from core.openapi import Op

bp = Blueprint("docs", __name__)

OPERATIONS = [Op("get", "/api/v1/openapi.json", "This document")]


def _document() -> dict:
    return current_app.extensions["openapi"].document


@bp.get("/api/v1/openapi.json")
def openapi_json():
    """Serve the OpenAPI 3.1 document."""
    return jsonify(_document())


@bp.get("/docs/api")
def api_page():
    """Render the API reference from the OpenAPI document."""
    return render_template("docs/api.html", doc=_document())


@bp.app_template_filter("code_spans")
def code_spans(text: str) -> Markup:
    """Show `backticked` words of a description as code, escaping everything else."""
    parts = text.split("`")
    return Markup("").join(
        Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts)
    )


@bp.app_template_filter("schema_type")
def schema_type(schema: dict) -> Markup:
    """Describe a JSON schema in a few words, linking named schemas."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    if "anyOf" in schema:
        return Markup(" or ").join(schema_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return Markup(", ").join(Markup("<code>{}</code>").format(v) for v in schema["enum"])
    if "const" in schema:
        return Markup("<code>{}</code>").format(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array":
        return Markup("list of ") + schema_type(schema.get("items", {}))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return Markup("map of ") + schema_type(schema["additionalProperties"])
    if "pattern" in schema:
        return Markup("{} <code>{}</code>").format(kind, schema["pattern"])
    if "format" in schema:
        return Markup("{} ({})").format(kind, schema["format"])
    return Markup("{}").format(kind)
