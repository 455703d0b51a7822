"""The email half's operations in the OpenAPI document, from the models that validate them.

The 405 and 401 answers every operation shares are added by core.openapi.
"""

from core.openapi import Op, header, parameter
from pixel import schemas as s
from pixel.api import BATCH_BODY_LIMIT, RENDER_BODY_LIMIT

BAD_JSON = {400: "Malformed JSON, or a key given twice"}
BODY_REFUSED = {
    413: "The body is larger than the operation allows",
    415: "The body is not sent as `application/json` or `text/plain`",
    422: "Unknown field, wrong type, or a value outside its pattern or length",
}
NO_SITE = {404: "No such site in the sites file"}
SPOOL_FULL = {503: "The event spool is full; nothing was written, retry later"}
MINT_ERRORS = BAD_JSON | BODY_REFUSED | NO_SITE | SPOOL_FULL
# Each answer holds unsubscribe URLs (they act for their recipient): no cache may keep one.
NO_STORE = {"Cache-Control": header("Never stored by caches", const="no-store")}

MODES = (
    "The tracking mode follows the recipient: `none` when they unsubscribed from this list "
    "or from all (then `suppressed`: do not send) or denied tracking (no pixel, links as "
    "they are); `individual` when they granted tracking, or when this install does not "
    "require consent (`CONSENTRY_EMAIL_TRACKING_CONSENT=not_required`); otherwise "
    "`aggregate`: the pixel and links carry a random id never linked to the recipient. "
    "`send: true` records a `sent` event (none for a suppressed message)."
)
MESSAGE_EXAMPLE = {
    "campaign": "2026-12-newsletter",
    "recipient": "crm-4711",
    "email": "ann@example.com",
    "list": "newsletter",
}
BATCH_EXAMPLE = {
    "campaign": "2026-12-newsletter",
    "list": "newsletter",
    "recipients": [
        {"recipient": "crm-4711", "email": "ann@example.com"},
        {"recipient": "crm-4712", "email": "bob@example.org"},
        {"recipient": "crm-4713"},
    ],
}
RENDER_EXAMPLE = MESSAGE_EXAMPLE | {
    "html": '<!doctype html><html><body><p>Hello Ann,</p><p><a href="https://shop.example.com'
    '/sale">See the sale</a></p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    "</body></html>",
}
RECIPIENT = parameter(
    "recipient",
    "path",
    "The sending system's id for the recipient.",
    example="crm-4711",
    maxLength=s.MAX_RECIPIENT_ID,
    pattern=s.TEXT,
)
SITE = parameter(
    "site", "query", "The recipient's site; default: the first of the sites file.", example="demo"
)

OPERATIONS = [
    Op("post", "/api/v1/messages", "Mint a message", MODES,
       body=s.MessageIn, example=MESSAGE_EXAMPLE, status=201, answer=s.MessageOut,
       headers=NO_STORE, errors=MINT_ERRORS, auth=True),
    Op("post", "/api/v1/messages/batch", "Mint one campaign's messages",
       f"Up to {s.MAX_BATCH:,} recipients, each named once; the answer lists the "
       "messages in the request's order. " + MODES,
       body=s.BatchIn, example=BATCH_EXAMPLE, status=201, answer=s.BatchOut,
       headers=NO_STORE, body_limit=BATCH_BODY_LIMIT, auth=True,
       errors=MINT_ERRORS | {
           422: "Unknown field, wrong type, a value outside its pattern or length, more "
                f"than {s.MAX_BATCH:,} recipients, or a recipient named twice",
       }),
    Op("post", "/api/v1/messages/render", "Mint a message into its email",
       "Returns the email's HTML with `{{ unsubscribe_url }}` filled, each `http(s)` link "
       "of an `<a>` or `<area>` made a tracked link (`mailto:`, `tel:`, anchors and the "
       "unsubscribe link stay), a hidden link that only machines follow and the pixel "
       "before `</body>`; everything else byte for byte as sent. In `none` mode only the "
       "unsubscribe URL is filled. " + MODES,
       body=s.RenderIn, example=RENDER_EXAMPLE, status=201, answer=s.RenderOut,
       headers=NO_STORE, body_limit=RENDER_BODY_LIMIT, errors=MINT_ERRORS, auth=True),
    Op("post", "/api/v1/recipients/{recipient}/tracking", "Set a recipient's tracking consent",
       "`denied` stops open and click tracking at once, for mail already sent too, and "
       "is listed with the suppressions; `granted` allows individual tracking; `unknown` "
       "returns to the install's default. An unknown recipient is added.",
       parameters=(RECIPIENT, SITE), body=s.TrackingIn, example={"consent": "denied"},
       answer=s.TrackingOut, headers=NO_STORE, auth=True,
       errors=BAD_JSON | BODY_REFUSED | NO_SITE | SPOOL_FULL | {
           400: "Malformed JSON, a key given twice, or a recipient id over 255 characters "
                "or with control characters",
       }),
]  # fmt: skip
