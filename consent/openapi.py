"""The OpenAPI 3.1 description of the HTTP API, built from the same models that validate it."""

import re
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from consent import schemas as s

ERROR_TEXT = {
    400: "Malformed JSON or a bad id",
    401: "No API key, or an unknown or revoked one",
    403: "The page's origin is not allowed for this site",
    404: "Unknown site or consent id",
    409: "The policy version changed since the banner loaded",
    413: "The body is larger than 16 KB",
    415: "The body is not JSON",
    422: "Unknown field or category, wrong type, or inconsistent action",
    503: "The event spool is full",
}

SITE_ID = {"name": "site_id", "in": "path", "required": True, "schema": {"type": "string"}}
CONSENT_ID = {
    "name": "consent_id",
    "in": "path",
    "required": True,
    "description": "The id returned by POST /api/v1/consents; whoever holds it may read it.",
    "schema": {"type": "string", "pattern": s.CONSENT_ID},
}


@dataclass(frozen=True)
class Op:
    """One documented operation; later issues add theirs to OPERATIONS."""

    method: str
    path: str
    summary: str
    description: str = ""
    parameters: tuple[dict, ...] = ()
    body: type[BaseModel] | None = None
    status: int = 200
    answer: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    auth: bool = False


LANG = {"name": "lang", "in": "query", "required": False, "schema": {"type": "string"}}
BODY_ERRORS = (400, 413, 415, 422)

OPERATIONS = [
    Op("get", "/api/v1/sites/{site_id}/config", "Banner config for this visitor",
       "Resolved for the region (trusted header), language (`lang`, then Accept-Language, "
       "then the site default) and DNT/GPC. Sends an ETag; If-None-Match answers 304.",
       parameters=(SITE_ID, LANG), answer=s.SiteConfigOut, errors=(403, 404)),
    Op("post", "/api/v1/sites/{site_id}/impressions", "Count a banner impression",
       "Anonymous; feeds consent rates in ClickHouse.",
       parameters=(SITE_ID,), body=s.ImpressionIn, status=204,
       errors=(*BODY_ERRORS, 403, 404, 503)),
    Op("post", "/api/v1/consents", "Record a decision",
       "Appends a proof record to the site's hash chain and returns a signed receipt. "
       "`necessary` is always stored as granted; missing categories are refused.",
       parameters=({"name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "Makes a retry safe: the same key and body within 24 h "
                    "answer the first decision again (header `Idempotent-Replayed: true`) "
                    "and write nothing; the same key with another body is 422. 1 to 255 "
                    "visible ASCII characters, quoted (a structured-field string) or bare.",
                    "schema": {"type": "string", "pattern": r'^(?:[!#-\[\]-~]{1,255}|'
                               r'"(?:[!#-\[\]-~]|\\["\\]){1,255}")$'}},),
       body=s.DecisionIn, status=201, answer=s.DecisionOut,
       errors=(*BODY_ERRORS, 403, 404, 409, 503)),
    Op("get", "/api/v1/consents/{consent_id}", "Current state and full history",
       parameters=(CONSENT_ID,), answer=s.ConsentStateOut, errors=(400, 403, 404)),
    Op("delete", "/api/v1/consents/{consent_id}", "Withdraw every optional category",
       "Appends a `withdraw` record; nothing is deleted.",
       parameters=(CONSENT_ID,), answer=s.DecisionOut, errors=(400, 403, 404, 503)),
    Op("post", "/api/v1/receipts/verify", "Check a receipt",
       "Valid when one of the server's keys (current or rotated out) signed it.",
       body=s.ReceiptCheckIn, answer=s.ReceiptCheckOut, errors=BODY_ERRORS),
    Op("get", "/api/v1/sites/{site_id}/chain", "Verify a site's hash chain",
       "Recomputes every record's hash; reports the first one that was edited, removed "
       "or reordered.",
       parameters=(SITE_ID,), answer=s.ChainOut, errors=(401, 404), auth=True),
    Op("get", "/api/v1/openapi.json", "This document"),
    Op("get", "/healthz", "Health of SQL, ClickHouse and the spool",
       "200 while SQL works (status `degraded` if ClickHouse is down: events wait in the "
       "spool); 503 when SQL is down.",
       answer=s.HealthOut, errors=(503,)),
    Op("get", "/.well-known/gpc.json", "Global Privacy Control support", answer=s.GpcOut),
]  # fmt: skip


def _schemas() -> tuple[dict, dict]:
    models = {m for op in OPERATIONS for m in (op.body, op.answer) if m is not None}
    models.add(s.ErrorOut)
    keys, top = models_json_schema(
        [(m, "validation" if m.__name__.endswith("In") else "serialization") for m in models],
        ref_template="#/components/schemas/{model}",
    )
    return {model: ref for (model, _), ref in keys.items()}, top["$defs"]


def _content(ref: dict) -> dict:
    return {"application/json": {"schema": ref}}


@cache
def openapi_document(version: str) -> dict:
    """Return the OpenAPI 3.1 document for every endpoint."""
    refs, components = _schemas()
    error = {"$ref": "#/components/schemas/ErrorOut"}
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        name = "_".join(filter(None, re.split(r"[^a-z0-9]+", f"{op.method} {op.path}".lower())))
        operation = {"summary": op.summary, "operationId": name, "parameters": list(op.parameters)}
        if op.description:
            operation["description"] = op.description
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": _content(refs[op.body])}
        ok: dict = {"description": "OK"}
        if op.answer is not None:
            ok["content"] = _content(refs[op.answer])
        operation["responses"] = {str(op.status): ok} | {
            str(code): {"description": ERROR_TEXT[code], "content": _content(error)}
            for code in sorted(op.errors)
        }
        if op.auth:
            operation["security"] = [{"apiKey": []}]
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Consentry API",
            "version": version,
            "description": "Cookie consent with proof, and email tracking consent.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }
