"""Consent records: check a decision, append it to its site's chain, read the proof back."""

import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select

from consent import chain, idempotency
from consent.idempotency import RequestKey
from consent.models import ConsentRecord, NewRecord
from consent.regions import RegionMatch, region_code, resolve_region
from consent.schemas import DecisionIn
from consent.signals import Signals, read_signals
from consent.sites import NECESSARY, Site
from core import faults
from core.db import db
from core.errors import Conflict, Unprocessable
from core.times import utc_text
from core.visitors import ip_prefix, ua_family
from events import SpoolFull
from events.protocols import EventSink

log = logging.getLogger(__name__)

CLEARING_ACTIONS = ("reject_all", "withdraw", "gpc", "dnt")
_KNOWN = (
    select(ConsentRecord.id)
    .where(
        ConsentRecord.site_id == bindparam("site"),
        ConsentRecord.consent_id == bindparam("consent"),
    )
    .limit(1)
)


@dataclass(frozen=True)
class Visit:
    """What the request tells about the visitor, already reduced to what may be stored."""

    signals: Signals
    region: RegionMatch
    origin: str | None
    ip_prefix: str | None
    ua_family: str | None
    now: datetime


def read_visit(
    site: Site,
    origin: str | None,
    headers: Mapping[str, str],
    remote_addr: str | None,
    region_headers: list[str],
    now: datetime,
) -> Visit:
    """Read what proof may keep about the visitor from a request's headers and address."""
    return Visit(
        signals=read_signals(headers),
        region=resolve_region(region_code(headers, region_headers), site),
        origin=origin,
        ip_prefix=ip_prefix(remote_addr),
        ua_family=ua_family(headers.get("User-Agent", "")) if site.proof.store_ua_family else None,
        now=now,
    )


@dataclass(frozen=True)
class Decided:
    """The record a decision request is answered with."""

    record: NewRecord | ConsentRecord
    replayed: bool = False  # made by an earlier request with the same Idempotency-Key


def record_decision(
    site: Site, decision: DecisionIn, visit: Visit, events: EventSink, key: RequestKey | None = None
) -> Decided:
    """Check a decision against the site, append it to the chain, emit its event.

    With an Idempotency-Key an earlier request already answered, nothing is written: that
    request's record is the answer (even if the site's policy changed since).
    """
    if key is not None and (earlier := _earlier(site, key, visit.now)) is not None:
        return Decided(earlier, replayed=True)
    unknown = sorted(set(decision.choices) - set(site.categories))
    if unknown:
        raise Unprocessable(
            f"unknown categories for site {site.id!r}: {', '.join(unknown)}",
            code="unknown_category",
        )
    if decision.language not in site.texts:
        raise Unprocessable(
            f"language {decision.language!r} is not one of {', '.join(site.languages)}",
            code="unknown_language",
        )
    if decision.policy_version != site.policy_version:
        raise Conflict(
            f"policy version {decision.policy_version!r} is outdated; "
            f"the current one is {site.policy_version!r}",
            code="policy_outdated",
        )
    if decision.signals:
        signals = visit.signals.merge(decision.signals.dnt, decision.signals.gpc)
        visit = replace(visit, signals=signals)
    choices = {c: c == NECESSARY or decision.choices.get(c, False) for c in site.categories}
    action = settle_action(decision.action, choices, visit.signals)
    try:
        record = _append(
            site,
            consent_id=decision.consent_id,
            action=action,
            choices=choices,
            lifetime=decision.lifetime,
            language=decision.language,
            page_path=decision.page,
            visit=visit,
            events=events,
            key=key,
        )
    except Exception:
        # A request with the same key committed first, so ours could not take the key:
        # answer with its record. Any other failure finds no such request and is raised.
        if key is None or (earlier := _earlier(site, key, visit.now)) is None:
            raise
        return Decided(earlier, replayed=True)
    if key is not None:
        idempotency.purge_expired(visit.now)
    return Decided(record)


def _earlier(site: Site, key: RequestKey, now: datetime) -> ConsentRecord | None:
    record_id = idempotency.recorded(site.id, key, now)
    return find_record(record_id) if record_id is not None else None


def withdraw(site: Site, latest: ConsentRecord, visit: Visit, events: EventSink) -> NewRecord:
    """Append a record that refuses every optional category (withdrawal as easy as consent)."""
    language = latest.language if latest.language in site.texts else site.default_language
    return _append(
        site,
        consent_id=latest.consent_id,
        action="withdraw",
        choices={c: c == NECESSARY for c in site.categories},
        lifetime=latest.lifetime,
        language=language,
        page_path=None,
        visit=visit,
        events=events,
    )


def settle_action(action: str | None, choices: dict[str, bool], signals: Signals) -> str:
    """Name the action a set of choices amounts to, or check the one the banner named."""
    optional = [granted for category, granted in choices.items() if category != NECESSARY]
    derived = "accept_all" if all(optional) else "custom" if any(optional) else "reject_all"
    if action is None:
        return derived
    if action == "accept_all" and derived != "accept_all":
        raise Unprocessable("accept_all must grant every category", code="inconsistent_action")
    if action in CLEARING_ACTIONS and any(optional):
        raise Unprocessable(
            f"{action} must refuse every optional category", code="inconsistent_action"
        )
    if action == "gpc" and not signals.gpc:
        raise Unprocessable("action gpc needs a Global Privacy Control signal", code="no_signal")
    if action == "dnt" and not signals.dnt:
        raise Unprocessable("action dnt needs a Do Not Track signal", code="no_signal")
    return action


def _append(
    site: Site,
    *,
    consent_id,
    action,
    choices,
    lifetime,
    language,
    page_path,
    visit,
    events: EventSink,
    key: RequestKey | None = None,
):
    if not events.has_room():
        # Checked before anything is written, so a full spool leaves no record behind.
        raise SpoolFull()
    if consent_id is None or not _known(site.id, consent_id):
        # Ids are always made here: a client cannot choose one, only reuse its own.
        consent_id = secrets.token_hex(16)
    record = NewRecord(
        record_id=uuid.uuid4().hex,
        consent_id=consent_id,
        site_id=site.id,
        action=action,
        choices=choices,
        lifetime=lifetime,
        policy_version=site.policy_version,
        texts_hash=site.texts_hash(language),
        language=language,
        region=visit.region.code,
        region_rule=visit.region.rule,
        region_model=visit.region.model,
        dnt=visit.signals.dnt,
        gpc=visit.signals.gpc,
        ip_prefix=visit.ip_prefix if site.proof.store_ip_prefix else None,
        ua_family=visit.ua_family if site.proof.store_ua_family else None,
        page_origin=visit.origin,
        page_path=page_path,
        created_at=visit.now,
        expires_at=_expiry(site, choices, lifetime, visit.now),
    )
    chain.append(site, record, visit.now, key)
    if faults.ARMED:
        faults.crash_point("after_commit")
    # After the commit: the SQL record is the authority, so no event exists without one.
    try:
        events.emit("consent_events", decision_event(record))
    except (SpoolFull, OSError) as error:
        # Committed is decided: the answer stays 201 (a 503 would make the client send the
        # decision again), and consent.reconcile sends the event once the spool has room.
        log.error(
            "decision %s of site %s is stored but its event could not be spooled: %s",
            record.record_id,
            site.id,
            error,
        )
        events.count_drop("spool_full", "consent")
    return record


def _known(site_id: str, consent_id: str) -> bool:
    with db.engine.connect() as conn:
        return conn.execute(_KNOWN, {"site": site_id, "consent": consent_id}).first() is not None


def _expiry(site: Site, choices: dict[str, bool], lifetime: str, now: datetime):
    if lifetime == "session":
        return None  # ends with the browser session; the cookie has no Max-Age
    granted = any(v for c, v in choices.items() if c != NECESSARY)
    days = site.lifetime.accept_days if granted else site.lifetime.reject_days
    return now + timedelta(days=days)


def decision_event(record: NewRecord) -> dict:
    """The ClickHouse row for a decision: no IP beyond its prefix, no raw identifiers."""
    return {
        "event_id": str(uuid.UUID(record.record_id)),
        "ts": utc_text(record.created_at, sep=" "),
        "site": record.site_id,
        "kind": "decision",
        "action": record.action,
        "consent_id": record.consent_id,
        "granted": [c for c, v in record.choices.items() if v],
        "denied": [c for c, v in record.choices.items() if not v],
        "lifetime": record.lifetime,
        "policy_version": record.policy_version,
        "language": record.language,
        "region": record.region,
        "region_rule": record.region_rule,
        "region_model": record.region_model,
        "dnt": int(record.dnt),
        "gpc": int(record.gpc),
        "ua_family": record.ua_family or "",
        "ip_prefix": record.ip_prefix or "",
        "page_origin": record.page_origin or "",
    }


def impression_event(site: Site, language: str, visit: Visit) -> dict:
    """The ClickHouse row for one showing of the banner (anonymous)."""
    return {
        "ts": utc_text(visit.now, sep=" "),
        "site": site.id,
        "kind": "impression",
        "language": language,
        "policy_version": site.policy_version,
        "region": visit.region.code,
        "region_rule": visit.region.rule,
        "region_model": visit.region.model,
        "dnt": int(visit.signals.dnt),
        "gpc": int(visit.signals.gpc),
        "page_origin": visit.origin or "",
    }


def latest_record(consent_id: str) -> ConsentRecord | None:
    """Return the newest record of a consent id, or None."""
    query = (
        db.select(ConsentRecord)
        .where(ConsentRecord.consent_id == consent_id)
        .order_by(ConsentRecord.seq.desc())
        .limit(1)
    )
    return db.session.scalars(query).first()


def history(consent_id: str) -> list[ConsentRecord]:
    """Return every record of a consent id, oldest first."""
    query = (
        db.select(ConsentRecord)
        .where(ConsentRecord.consent_id == consent_id)
        .order_by(ConsentRecord.seq)
    )
    return list(db.session.scalars(query))


def find_record(record_id: str) -> ConsentRecord | None:
    """Return the record with this public id, or None."""
    query = db.select(ConsentRecord).where(ConsentRecord.record_id == record_id)
    return db.session.scalars(query).first()
