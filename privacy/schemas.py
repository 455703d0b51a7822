"""The privacy API's bodies; also the source of its OpenAPI schemas."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from core.times import api_time, as_utc
from privacy.models import RequestKind, RequestStatus

REQUEST_ID = r"^[0-9a-f]{32}$"
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$"  # visible text; line breaks allowed
UtcDatetime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(api_time, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class CompleteIn(_In):
    note: Annotated[str, Field(min_length=1, max_length=2000, pattern=TEXT)] | None = None


class RejectIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=2000, pattern=TEXT)]


class ActionOut(_Out):
    action: str
    actor: str
    note: str | None
    at: UtcDatetime


class RequestOut(_Out):
    id: str
    kind: RequestKind
    status: RequestStatus
    consent_id: str | None
    email: str | None = Field(description="kept while the request is open, then cleared")
    email_hash: str
    new_email: str | None
    language: str
    created_at: UtcDatetime
    deadline_at: UtcDatetime
    overdue: bool
    verified_at: UtcDatetime | None
    closed_at: UtcDatetime | None
    reason: str | None
    result: dict | None = Field(description="what an erasure removed, per store")


class RequestDetailOut(RequestOut):
    actions: list[ActionOut]


class RequestListOut(_Out):
    requests: list[RequestOut]


class OutboxItemOut(_Out):
    name: str
    to: str
    subject: str
    date: str
    body: str


class OutboxOut(_Out):
    messages: list[OutboxItemOut]


class AuditEntryOut(_Out):
    action: str
    actor: str
    target: str | None
    detail: dict | None
    at: UtcDatetime


class AuditOut(_Out):
    entries: list[AuditEntryOut]
