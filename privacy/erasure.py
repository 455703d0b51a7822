"""Erasure: remove a subject's personal data from SQL and ClickHouse, keep a tombstone.

What goes: the recipient rows (their addresses and the sending system's ids), the
messages that map to them, their suppressions (which name their ids), their email events
(by pseudonym or message id) and banner events (by consent id), and — when
``PRIVACY_ERASE_CONSENT_RECORDS`` is ``delete`` — their consent records.

What stays: one ``unsubscribe`` suppression from every list of every site, naming the
person only by the keyed hash of their address, so that minting for the address again
answers ``suppressed: true``; the rollups (they hold no ids, and materialized views do not
see deletes, so reports keep their numbers); by default the consent records, which are
the proof Art. 7(1) GDPR obliges us to keep (Art. 17(3)(b)) and hold no direct identifier;
the request log, which is our proof of having answered.

ClickHouse goes first: if SQL then fails, running again finds the same rows and deletes
what is left, while the other order could lose the ids that lead to the events.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from consent.models import ConsentRecord
from core.db import db
from events import Pipeline
from events.clickhouse import ClickHouseStore
from pixel.models import ALL_LISTS, Message, Recipient, Suppression
from privacy import holdings, ledger
from privacy.models import PrivacyRequest

TOMBSTONE_METHOD = "page"  # the subject asked on the portal, a page


# Every fragment formatted into these statements is a constant of this module; values are
# bound as server-side parameters.


def erase_events(store: ClickHouseStore, found: holdings.Found, consent_id: str | None) -> dict:
    """Delete the subject's raw events with lightweight DELETE; return rows removed per table."""
    removed = {"email_events": 0, "consent_events": 0}
    if found.recipients:
        where = "recipient IN {p:Array(String)} OR message_id IN {m:Array(String)}"
        params = {"p": found.pseudonyms, "m": found.message_ids}
        removed["email_events"] = _count(store, "email_events", where, params)
        if removed["email_events"]:
            store.command(f"DELETE FROM email_events WHERE {where}", params)  # noqa: S608
    if consent_id:
        where, params = "consent_id = {c:String}", {"c": consent_id}
        removed["consent_events"] = _count(store, "consent_events", where, params)
        if removed["consent_events"]:
            store.command(f"DELETE FROM consent_events WHERE {where}", params)  # noqa: S608
    return removed


def _count(store: ClickHouseStore, table: str, where: str, params: dict) -> int:
    sql = f"SELECT count() FROM {table} WHERE {where}"  # noqa: S608
    return int(store.query(sql, params)[0][0])


def erase_rows(
    found: holdings.Found,
    consent_id: str | None,
    sites: list[str],
    delete_records: bool,
    now: datetime,
) -> dict:
    """Delete the subject's SQL rows and add the tombstones, in one transaction (not committed)."""
    session = db.session
    ids = [r.id for r in found.recipients]
    removed = {"recipients": 0, "messages": 0, "suppressions": 0, "consent_records": 0}
    if ids:
        removed["messages"] = session.execute(
            delete(Message).where(Message.recipient_id.in_(ids))
        ).rowcount
    suppression_ids = [s.id for s in found.suppressions]
    if suppression_ids:
        removed["suppressions"] = session.execute(
            delete(Suppression).where(Suppression.id.in_(suppression_ids))
        ).rowcount
    if ids:
        removed["recipients"] = session.execute(
            delete(Recipient).where(Recipient.id.in_(ids))
        ).rowcount
    if consent_id and delete_records:
        removed["consent_records"] = session.execute(
            delete(ConsentRecord).where(ConsentRecord.consent_id == consent_id)
        ).rowcount
    email_hash = found.email_hashes[0]
    have = set(
        session.scalars(
            select(Suppression.site).where(
                Suppression.email_hash == email_hash,
                Suppression.kind == "unsubscribe",
                Suppression.list == ALL_LISTS,
                Suppression.recipient.is_(None),
                Suppression.lifted_at.is_(None),
            )
        )
    )
    tombstones = [
        Suppression(
            site=site, kind="unsubscribe", list=ALL_LISTS, recipient=None, email_hash=email_hash,
            method=TOMBSTONE_METHOD, message_id=None, created_at=now,
        )
        for site in sites
        if site not in have
    ]  # fmt: skip
    session.add_all(tombstones)
    removed["tombstones_added"] = len(tombstones)
    return removed


@dataclass(frozen=True)
class Scope:
    """What an erasure covers beyond the subject's own rows: set by the install."""

    sites: list[str]  # a tombstone for each
    delete_consent_records: bool


def carry_out(
    request: PrivacyRequest,
    keys: list[str],
    events: Pipeline,
    scope: Scope,
    actor: str,
    now: datetime,
) -> dict:
    """Erase a verified deletion request's subject in both stores; complete and audit it."""
    subject = ledger_subject(request)
    events.flush(timeout=5)  # events still spooled would reach ClickHouse after the DELETE
    found = holdings.find(subject, keys)
    result = {"clickhouse": erase_events(events.clickhouse, found, subject.consent_id)}
    result["sql"] = erase_rows(
        found, subject.consent_id, scope.sites, scope.delete_consent_records, now
    )
    ledger.audit("erasure", actor, request.id, result, now)
    request.result = result
    db.session.commit()
    ledger.move(request, "completed", actor, now, text="erased")
    return result


def ledger_subject(request: PrivacyRequest) -> holdings.Subject:
    if request.email is None:
        raise ledger.RequestStateError("the request is closed; its address is gone")
    return holdings.Subject(request.email, request.consent_id)
