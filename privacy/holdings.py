"""What is held about one subject, found through both halves and in ClickHouse.

A subject is a verified address (an email recipient, under any of their sites' ids) and,
when the request named one, a consent id (a website visitor). Rows are found by what
names the person — the keyed hash of the address, the recipient rows it leads to, their
message ids and event pseudonyms, the consent id — and by nothing else, each by its own
half (``pixel.subjects``, ``consent.records``): nothing is inferred or joined in from
elsewhere. Timestamps leave as API time text.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select

from consent.models import ConsentRecord
from consent.receipts import issue_receipt
from consent.records import history
from core.db import db
from core.times import api_time
from events.clickhouse import ClickHouseStore
from pixel.models import ALL_LISTS
from pixel.subjects import EmailHoldings, find_holdings
from privacy.ledger import RequestStateError
from privacy.models import PrivacyRequest


@dataclass(frozen=True)
class Subject:
    email: str
    consent_id: str | None = None


@dataclass
class Found:
    """The subject's rows in both halves, and their own requests."""

    email: EmailHoldings
    records: list[ConsentRecord] = field(default_factory=list)
    requests: list[PrivacyRequest] = field(default_factory=list)


def subject_of(request: PrivacyRequest) -> Subject:
    """Whom an open request is about; RequestStateError once it closed (the address is gone)."""
    if request.email is None:
        raise RequestStateError("the request is closed; its address is gone")
    return Subject(request.email, request.consent_id)


def find(subject: Subject, keys: list[str]) -> Found:
    """Load every SQL row that names the subject."""
    email = find_holdings(keys, subject.email)
    found = Found(email, history(subject.consent_id) if subject.consent_id else [])
    found.requests = list(
        db.session.scalars(
            select(PrivacyRequest)
            .where(PrivacyRequest.email_hash.in_(email.email_hashes))
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


def email_events(store: ClickHouseStore, held: EmailHoldings) -> list[dict]:
    """The subject's email events: by their pseudonyms, or their own messages' ids."""
    if not held.recipients:
        return []
    sql = (
        f"SELECT {EMAIL_EVENT_COLUMNS} FROM email_events "  # noqa: S608
        "WHERE recipient IN {p:Array(String)} OR message_id IN {m:Array(String)} "
        "ORDER BY ts, event_id"
    )
    return _rows(store, sql, {"p": held.pseudonyms, "m": held.message_ids}, EMAIL_EVENT_COLUMNS)


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
    held = found.email
    in_force = [s for s in held.suppressions if s.lifted_at is None]
    lists = sorted({(m.site, m.list) for m in held.messages})
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
                for r in held.recipients
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
                for m in held.messages
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
                for s in held.suppressions
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
