"""What is held about one subject, found in both halves' SQL tables and in ClickHouse.

A subject is a verified address (an email recipient, under any of their sites' ids) and,
when the request named one, a consent id (a website visitor). Rows are found by what
names the person — the keyed hash of the address, the recipient rows it leads to, their
message ids and event pseudonyms, the consent id — and by nothing else: an aggregate
pixel's anonymous message is not linked to anyone, so it is not theirs. Nothing is
inferred or joined in from elsewhere.

The halves have no read functions for these sets, so this module reads their models
(read-only here; erasure has its own module). Timestamps leave as API time text.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import or_, select

from consent.models import ConsentRecord
from consent.receipts import issue_receipt
from core.db import db
from core.times import api_time
from events.clickhouse import ClickHouseStore
from pixel import identity
from pixel.models import ALL_LISTS, Message, Recipient, Suppression
from privacy.models import PrivacyRequest


@dataclass(frozen=True)
class Subject:
    email: str
    consent_id: str | None = None


@dataclass
class Found:
    """The subject's rows and the keys that lead to their events."""

    email_hashes: list[str]
    recipients: list[Recipient] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    records: list[ConsentRecord] = field(default_factory=list)
    requests: list[PrivacyRequest] = field(default_factory=list)

    @property
    def pseudonyms(self) -> list[str]:
        return [r.pseudonym for r in self.recipients]

    @property
    def message_ids(self) -> list[str]:
        return [m.id for m in self.messages]


def find(subject: Subject, keys: list[str]) -> Found:
    """Load every SQL row that names the subject."""
    hashes = identity.email_hashes(keys, subject.email)
    found = Found(hashes)
    session = db.session
    found.recipients = list(
        session.scalars(select(Recipient).where(Recipient.email_hash.in_(hashes)))
    )
    ids = [r.id for r in found.recipients]
    if ids:
        found.messages = list(
            session.scalars(
                select(Message).where(Message.recipient_id.in_(ids)).order_by(Message.created_at)
            )
        )
    by_recipient = [
        (Suppression.site == r.site) & (Suppression.recipient == r.external_id)
        for r in found.recipients
    ]
    found.suppressions = list(
        session.scalars(
            select(Suppression)
            .where(or_(Suppression.email_hash.in_(hashes), *by_recipient))
            .order_by(Suppression.id)
        )
    )
    if subject.consent_id:
        found.records = list(
            session.scalars(
                select(ConsentRecord)
                .where(ConsentRecord.consent_id == subject.consent_id)
                .order_by(ConsentRecord.seq)
            )
        )
    found.requests = list(
        session.scalars(
            select(PrivacyRequest)
            .where(PrivacyRequest.email_hash.in_(hashes))
            .order_by(PrivacyRequest.created_at)
        )
    )
    return found


EMAIL_EVENT_COLUMNS = (
    "event_id, ts, kind, site, campaign, list, message_id, tracking, sent_at, agent_class, "
    "agent_reasons, url, method, user_agent, ua_family, ip_prefix"
)
CONSENT_EVENT_COLUMNS = (
    "event_id, ts, site, kind, action, granted, denied, lifetime, policy_version, language, "
    "region, region_rule, region_model, dnt, gpc, ua_family, ip_prefix, page_origin"
)


def email_events(store: ClickHouseStore, found: Found) -> list[dict]:
    """The subject's email events: by their pseudonyms, or their own messages' ids."""
    if not found.recipients:
        return []
    sql = (
        f"SELECT {EMAIL_EVENT_COLUMNS} FROM email_events "  # noqa: S608
        "WHERE recipient IN {p:Array(String)} OR message_id IN {m:Array(String)} "
        "ORDER BY ts, event_id"
    )
    return _rows(store, sql, {"p": found.pseudonyms, "m": found.message_ids}, EMAIL_EVENT_COLUMNS)


def consent_events(store: ClickHouseStore, consent_id: str | None) -> list[dict]:
    """The visitor's banner events (impressions and decisions) by their consent id."""
    if not consent_id:
        return []
    sql = (
        f"SELECT {CONSENT_EVENT_COLUMNS} FROM consent_events "  # noqa: S608
        "WHERE consent_id = {c:String} ORDER BY ts, event_id"
    )
    return _rows(store, sql, {"c": consent_id}, CONSENT_EVENT_COLUMNS)


def _rows(store: ClickHouseStore, sql: str, params: dict, columns: str) -> list[dict]:
    names = [c.strip() for c in columns.split(",")]
    return [
        {name: _plain(value) for name, value in zip(names, row, strict=True)}
        for row in store.query(sql, params)
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return api_time(value)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _time(value: datetime | None) -> str | None:
    return api_time(value) if value is not None else None


def document(
    subject: Subject,
    found: Found,
    events: dict[str, list[dict]],
    keys: list[str],
    request: PrivacyRequest,
    now: datetime,
) -> dict:
    """The export: one JSON document of everything found, in plain, documented fields."""
    in_force = [s for s in found.suppressions if s.lifted_at is None]
    lists = sorted({(m.site, m.list) for m in found.messages})
    return {
        "format": "consentry-export/1",
        "generated_at": api_time(now),
        "request": {
            "id": request.id,
            "kind": request.kind,
            "received_at": api_time(request.created_at),
        },
        "subject": {"email": subject.email, "consent_id": subject.consent_id},
        "website_consent": {
            "records": [_record(r, keys) for r in found.records],
            "events": events.get("consent_events", []),
        },
        "email": {
            "recipients": [
                {
                    "site": r.site,
                    "recipient": r.external_id,
                    "email": r.email,
                    "tracking_consent": r.tracking_consent,
                    "tracking_changed_at": _time(r.tracking_changed_at),
                    "tracking_method": r.tracking_method,
                    "created_at": api_time(r.created_at),
                }
                for r in found.recipients
            ],
            "lists": [
                {
                    "site": site,
                    "list": name,
                    "unsubscribed": any(
                        s.kind == "unsubscribe" and s.site == site and s.list in (name, ALL_LISTS)
                        for s in in_force
                    ),
                }
                for site, name in lists
            ],
            "messages": [
                {
                    "message_id": m.id,
                    "site": m.site,
                    "campaign": m.campaign,
                    "list": m.list,
                    "tracking": m.tracking,
                    "suppressed": m.suppressed,
                    "sent_at": _time(m.sent_at),
                    "created_at": api_time(m.created_at),
                }
                for m in found.messages
            ],
            "suppressions": [
                {
                    "site": s.site,
                    "kind": s.kind,
                    "list": s.list,
                    "recipient": s.recipient,
                    "method": s.method,
                    "created_at": api_time(s.created_at),
                    "lifted_at": _time(s.lifted_at),
                }
                for s in found.suppressions
            ],
            "events": events.get("email_events", []),
        },
        "privacy_requests": [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "received_at": api_time(r.created_at),
                "deadline_at": api_time(r.deadline_at),
            }
            for r in found.requests
        ],
    }


def _record(record: ConsentRecord, keys: list[str]) -> dict:
    return {
        "record_id": record.record_id,
        "consent_id": record.consent_id,
        "site": record.site_id,
        "action": record.action,
        "choices": record.choices,
        "lifetime": record.lifetime,
        "policy_version": record.policy_version,
        "texts_hash": record.texts_hash,
        "language": record.language,
        "region": record.region,
        "region_rule": record.region_rule,
        "dnt": record.dnt,
        "gpc": record.gpc,
        "ip_prefix": record.ip_prefix,
        "ua_family": record.ua_family,
        "page_origin": record.page_origin,
        "page_path": record.page_path,
        "created_at": api_time(record.created_at),
        "expires_at": _time(record.expires_at),
        "hash": record.hash,
        "receipt": _plain(issue_receipt(keys, record)),
    }
