"""The privacy API's operations in the OpenAPI document."""

from core.openapi import Op, header, parameter
from privacy import schemas as s
from privacy.models import REQUEST_KINDS, REQUEST_STATUSES

NO_STORE = {"Cache-Control": header("Never stored by caches", const="no-store")}
REQUEST_ID = parameter(
    "request_id", "path", "The request's id.", example="6f1c2a9e0b3d4c5e8f7a6b5c4d3e2f1a"
)
BAD_BODY = {
    400: "Malformed JSON, or a key given twice",
    413: "The body is larger than 16 KB",
    415: "The body is not sent as `application/json` or `text/plain`",
    422: "Unknown field, wrong type, or a value outside its pattern or length",
}
UNKNOWN = {404: "No request with this id"}

OPERATIONS = [
    Op("get", "/api/v1/privacy/requests", "List privacy requests",
       "Newest first, at most 500; filter by `status` and `kind`. `overdue` is true for an "
       "open request past its legal deadline (one month; 45 days for Do Not Sell).",
       parameters=(
           parameter("status", "query", "Only requests in this status.",
                     enum=list(REQUEST_STATUSES)),
           parameter("kind", "query", "Only requests of this kind.",
                     enum=list(REQUEST_KINDS)),
       ),
       answer=s.RequestListOut, headers=NO_STORE, auth=True,
       errors={422: "An unknown status or kind"}),
    Op("get", "/api/v1/privacy/requests/{request_id}", "Show a privacy request",
       "The request and every action taken on it, with who took it.",
       parameters=(REQUEST_ID,), answer=s.RequestDetailOut, headers=NO_STORE, auth=True,
       errors=UNKNOWN),
    Op("post", "/api/v1/privacy/requests/{request_id}/complete", "Complete a privacy request",
       "Only a verified request completes. A deletion is carried out now, in SQL and "
       "ClickHouse; its `result` reports what was removed per store.",
       parameters=(REQUEST_ID,), body=s.CompleteIn,
       example={"note": "Address corrected in the CRM."},
       answer=s.RequestDetailOut, headers=NO_STORE, auth=True,
       errors=BAD_BODY | UNKNOWN | {409: "The request is not verified (yet, or any more)"}),
    Op("post", "/api/v1/privacy/requests/{request_id}/reject", "Reject a privacy request",
       "An open request is closed with the reason given; its address is cleared.",
       parameters=(REQUEST_ID,), body=s.RejectIn,
       example={"reason": "Manifestly unfounded: the same request was answered last week."},
       answer=s.RequestDetailOut, headers=NO_STORE, auth=True,
       errors=BAD_BODY | UNKNOWN | {409: "The request is already closed"}),
    Op("post", "/api/v1/privacy/requests/{request_id}/resend", "Re-send a verification link",
       "A new 24-hour link for a request nobody has confirmed; earlier links stop working.",
       parameters=(REQUEST_ID,), answer=s.RequestDetailOut, headers=NO_STORE, auth=True,
       errors=UNKNOWN | {409: "The request is not waiting for verification"}),
    Op("get", "/api/v1/privacy/outbox", "Read the mail outbox",
       "With no `CONSENTRY_SMTP_URL`, mail is written to the data dir's outbox; the newest "
       "100 messages, newest first.",
       answer=s.OutboxOut, headers=NO_STORE, auth=True),
    Op("get", "/api/v1/privacy/audit", "Read the audit log",
       "The newest 500 actions on personal data: exports, erasures, new API keys.",
       answer=s.AuditOut, headers=NO_STORE, auth=True),
]  # fmt: skip
