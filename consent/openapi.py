"""The consent half's operations in the OpenAPI document, from the models that validate them."""

from consent import schemas as s
from core.openapi import Op

_WHEN = {
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
BODY_ERRORS = (400, 413, 415, 422)


def _errors(*codes: int) -> dict[int, str]:
    return {code: _WHEN[code] for code in codes}


SITE_ID = {"name": "site_id", "in": "path", "required": True, "schema": {"type": "string"}}
CONSENT_ID = {
    "name": "consent_id",
    "in": "path",
    "required": True,
    "description": "The id returned by POST /api/v1/consents; whoever holds it may read it.",
    "schema": {"type": "string", "pattern": s.CONSENT_ID},
}
LANG = {"name": "lang", "in": "query", "required": False, "schema": {"type": "string"}}

OPERATIONS = [
    Op("get", "/api/v1/sites/{site_id}/config", "Banner config for this visitor",
       "Resolved for the region (trusted header), language (`lang`, then Accept-Language, "
       "then the site default) and DNT/GPC. Sends an ETag; If-None-Match answers 304.",
       parameters=(SITE_ID, LANG), answer=s.SiteConfigOut, errors=_errors(403, 404)),
    Op("post", "/api/v1/sites/{site_id}/impressions", "Count a banner impression",
       "Anonymous; feeds consent rates in ClickHouse.",
       parameters=(SITE_ID,), body=s.ImpressionIn, status=204,
       errors=_errors(*BODY_ERRORS, 403, 404, 503)),
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
       errors=_errors(*BODY_ERRORS, 403, 404, 409, 503)),
    Op("get", "/api/v1/consents/{consent_id}", "Current state and full history",
       parameters=(CONSENT_ID,), answer=s.ConsentStateOut, errors=_errors(400, 403, 404)),
    Op("delete", "/api/v1/consents/{consent_id}", "Withdraw every optional category",
       "Appends a `withdraw` record; nothing is deleted.",
       parameters=(CONSENT_ID,), answer=s.DecisionOut, errors=_errors(400, 403, 404, 503)),
    Op("post", "/api/v1/receipts/verify", "Check a receipt",
       "Valid when one of the server's keys (current or rotated out) signed it.",
       body=s.ReceiptCheckIn, answer=s.ReceiptCheckOut, errors=_errors(*BODY_ERRORS)),
    Op("get", "/api/v1/sites/{site_id}/chain", "Verify a site's hash chain",
       "Recomputes every record's hash; reports the first one that was edited, removed "
       "or reordered.",
       parameters=(SITE_ID,), answer=s.ChainOut, errors=_errors(401, 404), auth=True),
    Op("get", "/.well-known/gpc.json", "Global Privacy Control support", answer=s.GpcOut),
]  # fmt: skip
