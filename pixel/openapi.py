"""The email half's operations in the OpenAPI document, from the models that validate them.

The 405 and 401 answers every operation shares are added by core.openapi.
"""

from core.openapi import Op, header, parameter
from pixel import schemas as s
from pixel.api import BATCH_BODY_LIMIT, RENDER_BODY_LIMIT
from pixel.suppressions import CURSOR_RE, DEFAULT_LIMIT, MAX_LIMIT

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
SINCE = parameter(
    "since",
    "query",
    "The `next` cursor of the previous answer; none: from the start.",
    example="AAAAAAAAAAE",
    pattern=CURSOR_RE,
)
LIST = parameter(
    "list", "query", "Only what applies to this list.", example="newsletter", pattern=s.LIST_NAME
)
FEED_SITE = parameter(
    "site",
    "query",
    "Only this site's; default: every site's.",
    example="demo",
    pattern=s.SITE_ID,
)
LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": f"At most this many suppressions (default {DEFAULT_LIMIT}).",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "example": DEFAULT_LIMIT,
}
TOKEN = parameter(
    "token",
    "path",
    "The signed token of the message's unsubscribe URL.",
    example="eyJ9.Zm9v.c2lnbmF0dXJl",
)
PAGE_LANG = parameter(
    "lang",
    "query",
    "The page's language (en, de, fr, es, it, nl); else Accept-Language.",
    example="de",
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
    Op("get", "/api/v1/suppressions", "Read the suppressions feed",
       "Unsubscribes and tracking opt-outs, oldest first, after the cursor `since` (from "
       "the start without one). Keep the answer's `next` and ask with it: each suppression "
       "comes once, and none is skipped however many are added while you page (the cursor "
       "is a row id, not a time). With `list`, the suppressions that apply to that list: "
       "its unsubscribes, unsubscribes from every list (`*`) and tracking opt-outs. A "
       "lifted opt-out keeps its place, with `lifted_at`.",
       parameters=(SINCE, LIST, FEED_SITE, LIMIT), answer=s.SuppressionsOut,
       headers=NO_STORE, auth=True,
       errors=NO_SITE | {
           400: "`since` is not a cursor this server gave, `limit` is not 1 to "
                f"{MAX_LIMIT:,}, or `list` or `site` is not a valid name",
       }),
    Op("get", "/u/{token}", "Show a recipient's preference page",
       "The page an email's unsubscribe link opens (HTML, in the language of `lang`, then "
       "`Accept-Language`): the masked address and three choices, this list, all mail, or "
       "only stop open and click tracking. It never changes anything; neither does "
       "`HEAD`: scanners fetch every link of a mail.",
       parameters=(TOKEN, PAGE_LANG),
       errors={404: "The link is not valid (an HTML page saying so; nothing changed)"}),
    Op("post", "/u/{token}", "Unsubscribe in one click, or save the page's choice",
       "RFC 8058: the body `List-Unsubscribe=One-Click`, sent as "
       "`application/x-www-form-urlencoded` or `multipart/form-data` with no cookie or "
       "login, unsubscribes the recipient from the message's list at once; the answer is "
       "200, never a redirect, and a repeat changes nothing more. The page's own form "
       "posts `choice=list|all|tracking` and gets the confirmation page. No CSRF token: "
       "the signed token in the URL is the only authority, and whoever has the URL can "
       "already unsubscribe in one click. A token that is not valid, no body, or no choice "
       "this endpoint knows: 200 too, and nothing changes (mailbox providers treat any "
       "other status as a failure; the status never tells a valid token from an invalid "
       "one). Each change is an `unsubscribe` or `tracking_optout` event with `method` "
       "`one_click` or `page`.",
       parameters=(TOKEN, PAGE_LANG),
       errors={413: "The body is larger than `CONSENTRY_MAX_CONTENT_LENGTH`"}),
]  # fmt: skip
