"""Erasure: remove a subject's personal data from SQL and ClickHouse, keep a tombstone.

What goes: the recipient rows (their addresses and the sending system's ids), the
messages that map to them, their suppressions (which name their ids), their email events
(by pseudonym or message id) and banner events (by consent id), and — when
``PRIVACY_ERASE_CONSENT_RECORDS`` is ``redact`` — the content of their consent records.

What stays: one ``unsubscribe`` suppression from every list of every site, naming the
person only by the keyed hash of their address, so that minting for the address again
answers ``suppressed: true``; the rollups (they hold no ids, and materialized views do not
see deletes, so reports keep their numbers); by default the consent records, which are
the proof Art. 7(1) GDPR obliges us to keep (Art. 17(3)(b)) and hold no direct identifier;
when redacted, their place in their site's hash chain (``consent.redaction``); the
request log, which is our proof of having answered.

Each half removes its own rows (``pixel.subjects``, ``consent.redaction``), all in the
session's one transaction with the audit entry. Before anything is deleted, the
visitor's consent records are marked as having had their events erased
(``consent.redaction.forget_events``, committed at once): otherwise the reconciler, which
re-sends the decision events ClickHouse lacks, would send them back. ClickHouse goes
next: if SQL then fails, running again finds the same rows and deletes what is left, while
the other order could lose the ids that lead to the events.
"""

from dataclasses import dataclass
from datetime import datetime

from consent.redaction import forget_events, redact_consent
from core.db import db
from events import Pipeline
from events.clickhouse import ClickHouseStore
from pixel.subjects import EmailHoldings, erase_holdings
from privacy import holdings, ledger
from privacy.models import PrivacyRequest

TOMBSTONE_METHOD = "page"  # the subject asked on the portal, a page


# Every fragment formatted into these statements is a constant of this module; values are
# bound as server-side parameters.


def erase_events(
    store: ClickHouseStore, held: EmailHoldings, consent_id: str | None
) -> dict[str, int]:
    """Delete the subject's raw events with lightweight DELETE; return rows removed per table."""
    removed = {"email_events": 0, "consent_events": 0}
    params: dict[str, object]
    if held.recipients:
        where = "recipient IN {p:Array(String)} OR message_id IN {m:Array(String)}"
        params = {"p": held.pseudonyms, "m": held.message_ids}
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


@dataclass(frozen=True)
class Scope:
    """What an erasure covers beyond the subject's own rows: set by the install."""

    sites: list[str]  # a tombstone for each
    consent_records: str  # "keep" or "redact" (core.config.ERASE_CONSENT_RECORDS)


def erase_rows(
    found: holdings.Found, consent_id: str | None, scope: Scope, now: datetime
) -> dict[str, int]:
    """Remove the subject's SQL rows and add the tombstones, in the session's transaction
    (not committed)."""
    conn = db.session.connection()
    removed = erase_holdings(conn, found.email, scope.sites, TOMBSTONE_METHOD, now)
    removed["consent_records_redacted"] = 0
    if consent_id and scope.consent_records == "redact":
        removed["consent_records_redacted"] = redact_consent(conn, consent_id, now)
    return removed


def carry_out(
    request: PrivacyRequest,
    keys: list[str],
    events: Pipeline,
    scope: Scope,
    actor: str,
    now: datetime,
) -> dict:
    """Erase a verified deletion request's subject in both stores; complete and audit it."""
    subject = holdings.subject_of(request)
    if subject.consent_id:
        # Committed before the DELETE: from then on the reconciler, which re-sends the
        # decision events ClickHouse lacks, leaves this visitor's alone (kept or redacted).
        forget_events(db.session.connection(), subject.consent_id, now)
        db.session.commit()
    events.flush(timeout=5)  # events still spooled would reach ClickHouse after the DELETE
    found = holdings.find(subject, keys)
    result = {"clickhouse": erase_events(events.clickhouse, found.email, subject.consent_id)}
    result["sql"] = erase_rows(found, subject.consent_id, scope, now)
    ledger.audit("erasure", actor, request.id, result, now)
    request.result = result
    db.session.commit()
    ledger.move(request, "completed", actor, now, text="erased")
    return result
