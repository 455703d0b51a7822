"""The request log: open a request, move it through its statuses, record who did what.

Statuses: ``received`` (waiting for the subject to follow the mailed link) ->
``verified`` -> ``completed`` or ``rejected``; an unverified request ``expired`` after
``PRIVACY_UNVERIFIED_DAYS``. Each move is a conditional UPDATE on the status it leaves,
so two clicks on one link, or an operator and the subject at once, move it only once.

Deadlines are set by request type, not by where the person lives (which the portal does
not know): the rights GDPR gives answer within one month (Art. 12(3)), the strictest
period any region we serve applies; "Do Not Sell or Share" is a CCPA right, answered
within 45 days (Cal. Civ. Code §1798.130(a)(2)).
"""

import calendar
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, delete, update

from core.db import db
from core.times import as_utc
from privacy.links import LINK_LIFETIME
from privacy.models import OPEN_STATUSES, AuditEntry, PrivacyRequest, RequestAction

CCPA_DAYS = 45

SUBJECT = "subject"
SYSTEM = "system"


class RequestStateError(Exception):
    """The request is not in a status that allows this move; the message says which."""


def add_month(moment: datetime) -> datetime:
    """The same day a calendar month later, or the month's last day (GDPR's "one month")."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def deadline(kind: str, received_at: datetime) -> datetime:
    """When a request of ``kind`` received at ``received_at`` must be answered."""
    if kind == "do_not_sell":
        return received_at + timedelta(days=CCPA_DAYS)
    return add_month(received_at)


@dataclass(frozen=True)
class NewRequest:
    kind: str
    email: str
    email_hash: str
    consent_id: str | None
    new_email: str | None
    language: str


def open_request(new: NewRequest, now: datetime) -> PrivacyRequest:
    """Log a received request (not committed: the caller commits with its first action)."""
    request = PrivacyRequest(
        id=secrets.token_hex(16),
        kind=new.kind,
        status="received",
        consent_id=new.consent_id,
        email=new.email,
        email_hash=new.email_hash,
        new_email=new.new_email,
        language=new.language,
        created_at=now,
        deadline_at=deadline(new.kind, now),
    )
    db.session.add(request)
    note(request.id, "received", SUBJECT, None, now)
    return request


def pending_twin(new: NewRequest) -> PrivacyRequest | None:
    """An unverified request of the same kind for the same subject: re-sent, not repeated."""
    query = db.select(PrivacyRequest).where(
        PrivacyRequest.email_hash == new.email_hash,
        PrivacyRequest.kind == new.kind,
        PrivacyRequest.status == "received",
        PrivacyRequest.consent_id.is_(None)
        if new.consent_id is None
        else PrivacyRequest.consent_id == new.consent_id,
    )
    return db.session.scalars(query).first()


def note(request_id: str, action: str, actor: str, text: str | None, now: datetime) -> None:
    """Add an action to a request's history (in the caller's transaction)."""
    db.session.add(
        RequestAction(request_id=request_id, action=action, actor=actor, note=text, at=now)
    )


def audit(action: str, actor: str, target: str | None, detail: dict | None, now: datetime) -> None:
    """Add an entry to the audit log (in the caller's transaction)."""
    db.session.add(AuditEntry(action=action, actor=actor, target=target, detail=detail, at=now))


def find(request_id: str) -> PrivacyRequest | None:
    return db.session.get(PrivacyRequest, request_id)


def move(
    request: PrivacyRequest, to: str, actor: str, now: datetime, *, text: str | None = None
) -> None:
    """Move an open request to ``to`` once; RequestStateError if it already moved on."""
    allowed = {"verified": ("received",), "expired": ("received",)}.get(to, OPEN_STATUSES)
    values: dict = {"status": to}
    if to == "verified":
        values["verified_at"] = now
    else:
        values |= {"closed_at": now, "reason": text}
    if to in ("completed", "rejected", "expired"):
        # Closed: the address was only kept to write to the person.
        values |= {"email": None, "new_email": None}
    changed = _changed(
        update(PrivacyRequest)
        .where(PrivacyRequest.id == request.id, PrivacyRequest.status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed != 1:
        db.session.rollback()
        raise RequestStateError(f"the request is {request.status}, it cannot become {to}")
    note(request.id, to, actor, text, now)
    db.session.commit()
    db.session.refresh(request)


def claim_download(request: PrivacyRequest, fmt: str, now: datetime) -> bool:
    """Mark one format of an export downloaded; False if it already was (links work once)."""
    column = PrivacyRequest.export_json_at if fmt == "json" else PrivacyRequest.export_html_at
    changed = _changed(
        update(PrivacyRequest)
        .where(PrivacyRequest.id == request.id, column.is_(None))
        .values({column.key: now})
        .execution_options(synchronize_session=False)
    )
    if changed != 1:
        db.session.rollback()
        return False
    db.session.commit()
    db.session.refresh(request)
    return True


def commit() -> None:
    """Commit the actions and audit entries added so far."""
    db.session.commit()


def rollback() -> None:
    """Drop what was added since the last commit (a step that failed half-way)."""
    db.session.rollback()


def close_lapsed_exports(now: datetime) -> int:
    """Complete verified access requests whose export links have lapsed; return how many."""
    lapsed = db.session.scalars(
        db.select(PrivacyRequest).where(
            PrivacyRequest.kind == "access",
            PrivacyRequest.status == "verified",
            PrivacyRequest.verified_at < now - LINK_LIFETIME,
        )
    ).all()
    count = 0
    for request in lapsed:
        try:
            move(request, "completed", SYSTEM, now, text="export links lapsed")
            count += 1
        except RequestStateError:
            continue
    return count


def expire_unverified(now: datetime, older_than: timedelta) -> int:
    """Expire requests left unverified past ``older_than``; return how many."""
    cutoff = now - older_than
    stale = db.session.scalars(
        db.select(PrivacyRequest).where(
            PrivacyRequest.status == "received", PrivacyRequest.created_at < cutoff
        )
    ).all()
    count = 0
    for request in stale:
        try:
            move(request, "expired", SYSTEM, now, text="not verified in time")
            count += 1
        except RequestStateError:
            continue
    return count


def purge_closed(closed_before: datetime) -> int:
    """Delete the requests closed before ``closed_before`` with their actions; return how many."""
    return _changed(
        delete(PrivacyRequest).where(
            PrivacyRequest.closed_at.is_not(None), PrivacyRequest.closed_at < closed_before
        )
    )


def _changed(statement: Executable) -> int:
    """Run an UPDATE or DELETE in the session (flushing it first); return the rows it hit."""
    # A DML statement's result is a CursorResult; Session.execute is typed for any result.
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount


def overdue(request: PrivacyRequest, now: datetime) -> bool:
    return request.status in OPEN_STATUSES and as_utc(request.deadline_at) < now
