"""The consent half's operations in the OpenAPI document, from the models that validate them.

Parameters carry the patterns the server checks (consent.sites, consent.schemas); the 405,
304 and 401 answers every operation shares are added by core.openapi.
"""

from consent import schemas as s
from consent.sites import SITE_ID as SITE_ID_PATTERN
from core.openapi import Op, header, operation_id, parameter

BAD_JSON = {400: "Malformed JSON, or a key given twice"}
BAD_ID = {400: "The consent id is not 32 lowercase hex characters"}
ORIGIN_REFUSED = {403: "The page's origin (`Origin`) is not one of the site's"}
NO_SITE = {404: "No such site"}
NO_CONSENT = {404: "No decision has this consent id, or its site is gone"}
BODY_REFUSED = {
    413: "The body is larger than 16 KB (`CONSENTRY_MAX_CONTENT_LENGTH`)",
    415: "The body is not sent as `application/json` or `text/plain`",
    422: "Unknown field, wrong type, or a value outside its pattern or length",
}
SPOOL_FULL = {503: "The event spool is full; nothing was written, retry later"}

SITE_ID = parameter(
    "site_id", "path", "A site of the sites file.", pattern=SITE_ID_PATTERN, example="demo"
)
CONSENT_ID = parameter(
    "consent_id",
    "path",
    "The id returned by POST /api/v1/consents; whoever holds it may read it.",
    pattern=s.CONSENT_ID,
    example="5b2e8f0c7d6a4e1f9c3b2a1d0e9f8c7b",
)
LANG = parameter(
    "lang",
    "query",
    "The language asked for; one the site has no texts in is ignored.",
    example="en",
)
ORIGIN = parameter(
    "Origin",
    "header",
    "Sent by browsers: it must be one of the site's origins, else 403. "
    "Requests without one (servers, curl) are not checked.",
    example="http://localhost:5173",
)
ACCEPT_LANGUAGE = parameter(
    "Accept-Language", "header", "Used when `lang` names no language of the site."
)
SIGNALS = (
    parameter("DNT", "header", "Do Not Track: `1` is on, any other value off."),
    parameter("Sec-GPC", "header", "Global Privacy Control: `1` is on, any other value off."),
)
# RFC 8941 string characters: visible ASCII but '"' and '\', which a quoted key escapes.
_KEY_CHAR = r"[\x21\x23-\x5b\x5d-\x7e]"
IDEMPOTENCY_KEY = parameter(
    "Idempotency-Key",
    "header",
    "Makes a retry safe: the same key and body within 24 h get the first "
    "answer again (with `Idempotent-Replayed: true`) and write nothing; the same key with "
    "another body is 422. 1 to 255 visible ASCII characters, as a quoted string (a "
    'structured-field string, `\\` escaping `"` and `\\`) or bare; a malformed key is 400.',
    pattern=rf'^(?:{_KEY_CHAR}{{1,255}}|"(?:{_KEY_CHAR}|\\["\\]){{1,255}}")$',
    example='"8e0f7c1a-3b5d-4e2f-9a6c-1d2b3c4e5f60"',
)
# Consent state and receipts are the visitor's own: no cache may keep them.
NO_STORE = {"Cache-Control": header("Never stored by caches", const="no-store")}
REPLAYED = {
    "Idempotent-Replayed": header(
        "`true` when this answers a retry: nothing was written", required=False, const="true"
    )
}
# Only for a page on the API's own host: a cookie set by the server escapes Safari's 7-day
# cap on cookies written by script (consent.consent_cookie).
CONSENT_COOKIE = {
    "Set-Cookie": header(
        "Sent only when the request's `Origin` is on this API's own host (a same-site "
        "page): `consentry=<encodeURIComponent(JSON.stringify({consent_id, site, choices, "
        "lifetime, policy_version, timestamp}))>; Path=/; SameSite=Lax`, with `Secure` on "
        "https, `Domain` when the site sets `cookie_domain`, and `Max-Age` (and `Expires`) "
        "until `expires_at` for a persistent decision (none: a session cookie). A replayed "
        "answer sets the same cookie again. Never `HttpOnly`: the banner reads it.",
        required=False,
        pattern=r"^consentry=[^;\s]+; ",
    )
}
CACHED_CONFIG = {
    "Cache-Control": header(
        "Cached privately, revalidated with the ETag on every use", pattern=r"\bno-cache\b"
    ),
    "Vary": header("What the answer depends on"),
}

_CONSENT = "/api/v1/consents/{consent_id}"
# What a client does next with a decision's answer.
DECISION_LINKS = {
    "GetState": {
        "operationId": operation_id("get", _CONSENT),
        "parameters": {"consent_id": "$response.body#/consent_id"},
        "description": "Read the state and history of this consent id.",
    },
    "Withdraw": {
        "operationId": operation_id("delete", _CONSENT),
        "parameters": {"consent_id": "$response.body#/consent_id"},
        "description": "Withdraw it.",
    },
    "VerifyReceipt": {
        "operationId": operation_id("post", "/api/v1/receipts/verify"),
        "requestBody": {"receipt": "$response.body#/receipt"},
        "description": "Check the receipt.",
    },
}

DECISION_EXAMPLE = {
    "site": "demo",
    "choices": {"preferences": True, "analytics": False, "marketing": False},
    "lifetime": "persistent",
    "policy_version": "2026-11-01",
    "language": "en",
    "action": "custom",
    "page": "/pricing",
    "signals": {"dnt": False, "gpc": False},
}
IMPRESSION_EXAMPLE = {"language": "en", "page": "/pricing", "signals": {"dnt": False, "gpc": True}}
# A receipt as POST /api/v1/consents returns it (signed with a key of no real server).
RECEIPT_EXAMPLE = {
    "receipt": "eyJyZWNvcmRfaWQiOiIwZjljMmI3ZTRhMWQ0YzNlOGI2YTVkMmYxZTBjOWI4YSIsImNvbnNlbnRfaW"
    "QiOiI1YjJlOGYwYzdkNmE0ZTFmOWMzYjJhMWQwZTlmOGM3YiIsInNpdGUiOiJkZW1vIiwiYWN0aW9uIjoiY3VzdG9t"
    "IiwiY2hvaWNlcyI6eyJuZWNlc3NhcnkiOnRydWUsInByZWZlcmVuY2VzIjp0cnVlLCJhbmFseXRpY3MiOmZhbHNlLC"
    "JtYXJrZXRpbmciOmZhbHNlfSwibGlmZXRpbWUiOiJwZXJzaXN0ZW50IiwicG9saWN5X3ZlcnNpb24iOiIyMDI2LTEx"
    "LTAxIiwiY3JlYXRlZF9hdCI6IjIwMjYtMTEtMDJUMDk6MTQ6MDMuNTEyMDAwWiIsImV4cGlyZXNfYXQiOiIyMDI3LT"
    "A1LTAxVDA5OjE0OjAzLjUxMjAwMFoiLCJoYXNoIjoiYzNhMWYwZTJkNGI2YThjMGUxZjNhNWI3YzlkMGUyZjRhNmI4"
    "YzBkMWUzZjVhN2I5YzBkMmU0ZjZhOGIwYzFkMyJ9.gNu2DKo8muRxWrxjtdm79ILWJ8k"
}

OPERATIONS = [
    Op("get", "/api/v1/sites/{site_id}/config", "Banner config for this visitor",
       "Resolved for the region (the first of `CONSENTRY_REGION_HEADERS` a trusted proxy "
       "sets, e.g. `CF-IPCountry`), the language (`lang`, then Accept-Language, then the "
       "site default) and DNT/GPC.",
       parameters=(SITE_ID, LANG, ORIGIN, ACCEPT_LANGUAGE, *SIGNALS), answer=s.SiteConfigOut,
       headers=CACHED_CONFIG, conditional=True, errors=ORIGIN_REFUSED | NO_SITE),
    Op("post", "/api/v1/sites/{site_id}/impressions", "Count a banner impression",
       "Anonymous; feeds consent rates in ClickHouse.",
       parameters=(SITE_ID, ORIGIN, *SIGNALS), body=s.ImpressionIn, example=IMPRESSION_EXAMPLE,
       status=204, errors=BAD_JSON | BODY_REFUSED | ORIGIN_REFUSED | NO_SITE | SPOOL_FULL),
    Op("post", "/api/v1/consents", "Record a decision",
       "Appends a proof record to the site's hash chain and returns a signed receipt. "
       "`choices` names only the site's categories; `necessary` is always stored as granted "
       "and a category left out as refused.",
       parameters=(ORIGIN, IDEMPOTENCY_KEY, *SIGNALS), body=s.DecisionIn,
       example=DECISION_EXAMPLE, status=201, answer=s.DecisionOut,
       headers=NO_STORE | REPLAYED | CONSENT_COOKIE, links=DECISION_LINKS,
       errors=BAD_JSON | BODY_REFUSED | ORIGIN_REFUSED | NO_SITE | SPOOL_FULL | {
           409: "The site's policy version changed since the banner loaded",
           400: "Malformed JSON, a key given twice, or a malformed `Idempotency-Key`",
           422: "Unknown field, category or language, wrong type, an action its choices "
                "or signals contradict, or an `Idempotency-Key` used before with another body",
       }),
    Op("get", _CONSENT, "Current state and full history",
       parameters=(CONSENT_ID, ORIGIN), answer=s.ConsentStateOut, headers=NO_STORE,
       errors=BAD_ID | ORIGIN_REFUSED | NO_CONSENT),
    Op("delete", _CONSENT, "Withdraw every optional category",
       "Appends a `withdraw` record; nothing is deleted: the id's history stays readable.",
       parameters=(CONSENT_ID, ORIGIN, *SIGNALS), answer=s.DecisionOut, headers=NO_STORE,
       links=DECISION_LINKS,
       errors=BAD_ID | ORIGIN_REFUSED | NO_CONSENT | SPOOL_FULL),
    Op("post", "/api/v1/receipts/verify", "Check a receipt",
       "Valid when one of the server's keys (current or rotated out) signed it.",
       body=s.ReceiptCheckIn, example=RECEIPT_EXAMPLE, answer=s.ReceiptCheckOut,
       headers=NO_STORE, errors=BAD_JSON | BODY_REFUSED),
    Op("get", "/api/v1/sites/{site_id}/chain", "Verify a site's hash chain",
       "Recomputes every record's hash; reports the first one that was edited, removed "
       "or reordered.",
       parameters=(SITE_ID,), answer=s.ChainOut, errors=NO_SITE, auth=True),
    Op("get", "/.well-known/gpc.json", "Global Privacy Control support", answer=s.GpcOut),
]  # fmt: skip
