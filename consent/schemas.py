"""The consent API's request and response bodies; also the source of its OpenAPI schemas."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from consent.models import ConsentRecord, NewRecord
from consent.sites import CATEGORY_ID, LANGUAGE, SITE_ID, Cookie, Texts
from consent.sites import Lifetime as SiteLifetime
from core import jsoncodec
from core.times import api_time, as_utc

CONSENT_ID = r"^[0-9a-f]{32}$"
Action = Literal["accept_all", "reject_all", "custom", "withdraw", "gpc", "dnt"]
Lifetime = Literal["session", "persistent"]
# A path as the page saw it; control characters (NUL included) never belong in one.
PagePath = Annotated[str, Field(max_length=512, pattern=r"^/[^\x00-\x1f\x7f]*$")]
# Stored times come back naive from SQLite and aware from PostgreSQL: always answer in UTC,
# in the one form receipts use too (pydantic's own drops the fraction on a whole second).
UtcDatetime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(api_time, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class _In(BaseModel):
    # Unknown fields and loose types are errors: a typo must not silently drop a choice.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PageSignals(_In):
    """What the page itself saw: ``navigator.doNotTrack``, ``navigator.globalPrivacyControl``."""

    dnt: bool = False
    gpc: bool = False


class DecisionIn(_In):
    """A visitor's decision, as the banner sends it."""

    site: Annotated[str, Field(pattern=SITE_ID)]
    choices: dict[Annotated[str, Field(pattern=CATEGORY_ID)], bool]
    lifetime: Lifetime
    policy_version: Annotated[str, Field(min_length=1, max_length=64)]
    language: Annotated[str, Field(pattern=LANGUAGE)]
    consent_id: Annotated[str, Field(pattern=CONSENT_ID)] | None = None
    action: Action | None = None
    page: PagePath | None = None
    signals: PageSignals | None = None


class ImpressionIn(_In):
    """The banner was shown."""

    language: Annotated[str, Field(pattern=LANGUAGE)]
    page: PagePath | None = None
    signals: PageSignals | None = None


class ReceiptCheckIn(_In):
    receipt: Annotated[str, Field(min_length=1, max_length=4096)]


class DecisionOut(_Out):
    consent_id: str
    record_id: str
    action: Action
    choices: dict[str, bool]
    lifetime: Lifetime
    policy_version: str
    created_at: UtcDatetime
    expires_at: UtcDatetime | None = Field(description="null for a session decision")
    receipt: str


def decision_json(record: ConsentRecord | NewRecord, receipt: str) -> bytes:
    """A decision's answer: byte for byte ``DecisionOut``'s JSON for ``record``, written
    directly (a decision answers one on every request; a test holds the two together)."""
    expires = record.expires_at
    return jsoncodec.compact(
        {
            "consent_id": record.consent_id,
            "record_id": record.record_id,
            "action": record.action,
            "choices": record.choices,
            "lifetime": record.lifetime,
            "policy_version": record.policy_version,
            "created_at": api_time(record.created_at),
            "expires_at": api_time(expires) if expires is not None else None,
            "receipt": receipt,
        }
    )


class RecordOut(_Out):
    """One proof record, as stored."""

    record_id: str
    seq: int
    action: Action
    choices: dict[str, bool]
    lifetime: Lifetime
    policy_version: str
    texts_hash: str
    language: str
    region: str
    region_rule: str
    region_model: str
    dnt: bool
    gpc: bool
    ip_prefix: str | None
    ua_family: str | None
    page_origin: str | None
    page_path: str | None
    created_at: UtcDatetime
    expires_at: UtcDatetime | None
    prev_hash: str
    hash: str


class ConsentStateOut(_Out):
    consent_id: str
    site: str
    action: Action
    choices: dict[str, bool]
    lifetime: Lifetime
    policy_version: str
    created_at: UtcDatetime
    expires_at: UtcDatetime | None
    expired: bool
    outdated: bool = Field(description="the site's policy version changed since this decision")
    history: list[RecordOut] = Field(description="every record of this consent id, oldest first")


class ChainOut(_Out):
    site: str
    valid: bool
    records: int
    broken_at: int | None = Field(description="sequence number of the first bad record")
    reason: str | None


class ReceiptCheckOut(_Out):
    valid: bool = Field(description="signed by one of this server's keys")
    matches_record: bool | None = Field(
        description="the stored record still says what the receipt says, and its content "
        "still gives its stored hash; null when the receipt is not valid"
    )
    mismatches: list[str] | None = Field(
        description="what differs: `record_id` (no such record), `erased` (the record's "
        "content was erased at the visitor's request or after its retention period; "
        "`hash` follows if the receipt's hash is not the one the chain still holds), a "
        "receipt field, or `stored hash` (the record's content was changed); empty when "
        "it matches, null when the receipt is not valid"
    )
    receipt: dict | None = Field(description="the receipt's content, as it was signed")


class RegionOut(_Out):
    code: str = Field(description="ISO 3166 country or subdivision; empty when unknown")
    rule: str
    model: Literal["opt-in", "opt-out", "notice"]


class SignalsOut(_Out):
    dnt: bool
    gpc: bool
    policy: Literal["strict", "gpc"]
    honoured: bool = Field(description="this browser must not be tracked")


class CategoryOut(_Out):
    id: str
    necessary: bool
    cookies: list[Cookie]


class CookieSettingOut(_Out):
    name: str
    domain: str | None


class SiteConfigOut(_Out):
    """The banner config, resolved for the visitor's region, language and signals."""

    site: str
    name: str
    policy_version: str
    policy_url: str
    language: str
    languages: list[str]
    region: RegionOut
    signals: SignalsOut
    texts: Texts
    texts_hash: str = Field(description="SHA-256 of the texts shown, stored on each record")
    categories: list[CategoryOut]
    remember_choice: bool
    settings_button: bool = Field(
        description="show a floating Cookie settings button once a decision is made"
    )
    lifetime: SiteLifetime
    cookie: CookieSettingOut
    consent_mode: dict[str, list[str]]


class GpcOut(_Out):
    gpc: bool
    lastUpdate: str  # noqa: N815 - the name the GPC specification gives
