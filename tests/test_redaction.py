"""Redaction: a record's content cleared, its site's chain still whole and still watched."""

import uuid
from datetime import UTC, datetime

import pytest
from factories import decision
from sqlalchemy import update
from two_sites import CHROME, TWO_SITES, post, shop_decision

from consent.chain import (
    ChainReport,
    content_hash,
    link_hash,
    verify_chain,
)
from consent.models import ConsentRecord, IdempotencyKey
from consent.reconcile import Reconciler, event_id
from consent.redaction import redact_consent
from core.db import db, write_transaction

SITES = ("demo", "shop")
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
# What a redacted record holds instead of its content: every field that tells who decided,
# what, how and under which terms. Written out here, not read from the code under test.
CLEARED = {
    "consent_id": "", "action": "", "choices": {}, "lifetime": "", "policy_version": "",
    "texts_hash": "", "language": "", "region": "", "region_rule": "", "region_model": "",
    "dnt": False, "gpc": False, "ip_prefix": None, "ua_family": None, "page_origin": None,
    "page_path": None, "expires_at": None,
}  # fmt: skip
# And what it keeps as it was: its place in the chain, its public id, its site, its time.
KEPT = ("id", "record_id", "site_id", "seq", "created_at", "prev_hash", "hash")


def _decide(client, count: int) -> dict[str, list[str]]:
    """``count`` decisions per site, each by a new visitor, the sites interleaved.

    Every field set to something (signals, a region, a page, a UA family: a field left
    empty could not show it was not cleared), and varied, so no two records hash alike.
    Returns each site's consent ids in chain order.
    """
    made: dict[str, list[str]] = {site: [] for site in SITES}
    for i in range(count):
        for site in SITES:
            choices = {"analytics": bool(i % 2), "marketing": i % 3 == 0}
            body = (shop_decision if site == "shop" else decision)(
                choices=choices, lifetime="session" if i % 2 else "persistent", page=f"/p{i}"
            )
            headers = {"X-Country-Code": ("DE", "FR", "US")[i % 3], "User-Agent": CHROME}
            headers |= {"DNT": "1"} if i % 2 else {"Sec-GPC": "1"}
            answer = post(client, body, headers)
            assert answer.status_code == 201, answer.get_json()
            made[site].append(answer.get_json()["consent_id"])
    return made


def _redact(consent_ids: list[str]) -> int:
    with write_transaction() as conn:
        return sum(redact_consent(conn, c, NOW) for c in consent_ids)


def _rows(site: str) -> list[ConsentRecord]:
    db.session.expire_all()
    query = db.select(ConsentRecord).where(ConsentRecord.site_id == site)
    return list(db.session.scalars(query.order_by(ConsentRecord.seq)))


def _content(record: ConsentRecord) -> dict:
    return {c.key: getattr(record, c.key) for c in ConsentRecord.__table__.columns}


@pytest.mark.parametrize(
    "positions",
    [[1], [3], [5], [1, 5], [2, 3, 4], [1, 2, 3, 4, 5]],
    ids=["first", "middle", "last", "first-and-last", "middle-run", "all"],
)
def test_the_chains_verify_after_redacting_records_anywhere_in_them(make_app, positions):
    app = make_app(SITES_FILE=TWO_SITES)
    made = _decide(app.test_client(), 5)
    with app.app_context():
        before = {site: [_content(r) for r in _rows(site)] for site in SITES}
        # Every field a redaction clears held something: else clearing it could not show.
        assert all(any(was[k] != v for was in before["demo"]) for k, v in CLEARED.items())
        # The records at these places in demo's chain, and at the others in shop's.
        shop_positions = [p for p in range(1, 6) if p not in positions] or [3]
        chosen = {"demo": positions, "shop": shop_positions}
        erased = [made[site][p - 1] for site in SITES for p in chosen[site]]
        assert _redact(erased) == len(positions) + len(shop_positions)

        for site in SITES:
            assert verify_chain(site) == ChainReport(site, True, 5)
            for record, was in zip(_rows(site), before[site], strict=True):
                if record.seq in chosen[site]:
                    assert _naive(record.erased_at) == _naive(NOW)
                    after = _content(record)
                    assert {k: after.pop(k) for k in CLEARED} == CLEARED
                    assert {k: after.pop(k) for k in KEPT} == {k: was[k] for k in KEPT}
                    # Bookkeeping only an erasure's request sets (privacy.erasure), not redaction.
                    assert after.pop("events_erased_at") is None
                    assert set(after) == {"content_digest", "erased_at"}  # nothing else
                    # The digest is the content's as it was: the link still holds through it.
                    assert record.content_digest == content_hash(_as_record(was))
                else:
                    assert _content(record) == was  # untouched
        # Again: nothing more to redact, nothing changes.
        assert _redact(erased) == 0
        assert all(verify_chain(site).valid for site in SITES)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _as_record(values: dict) -> ConsentRecord:
    return ConsentRecord(**{k: v for k, v in values.items() if k != "id"})


def _set(seq: int, **values) -> None:
    db.session.execute(
        update(ConsentRecord)
        .where(ConsentRecord.site_id == "demo", ConsentRecord.seq == seq)
        .values(**values)
    )
    db.session.commit()


def _relink(seq: int, digest: str) -> None:
    record = _record(seq)
    _set(seq, content_digest=digest, hash=link_hash(record.prev_hash, seq, digest))


def _remove(seq: int) -> None:
    db.session.delete(_record(seq))
    db.session.commit()


def _record(seq: int) -> ConsentRecord:
    return next(r for r in _rows("demo") if r.seq == seq)


# Records 2 and 4 (of 4) of demo's chain are redacted; each edit names where verify must
# find the break and why.
TAMPERING = [
    ("digest of a redacted record", lambda: _set(2, content_digest="e" * 64), 2, "stored digest"),
    ("content put back", lambda: _set(2, consent_id="ab" * 16), 2, "still holds content"),
    ("choices put back", lambda: _set(4, choices={"necessary": True}), 4, "still holds content"),
    ("a signal put back", lambda: _set(2, gpc=True), 2, "still holds content"),
    ("marker cleared", lambda: _set(2, erased_at=None), 2, "only in part"),
    ("digest cleared", lambda: _set(4, content_digest=None), 4, "only in part"),
    (
        "un-redacted",
        lambda: _set(2, erased_at=None, content_digest=None),
        2,
        "content does not match its hash",
    ),
    ("hash of a redacted record", lambda: _set(2, hash="1" * 64), 2, "stored digest"),
    # A forger who rewrites a digest and the hash it gives breaks the next link...
    ("digest and hash rewritten", lambda: _relink(2, "e" * 64), 3, "does not chain"),
    # ...or, for the newest record, disagrees with the site's head.
    ("the last one rewritten", lambda: _relink(4, "e" * 64), 5, "records after this one"),
    ("its link", lambda: _set(2, prev_hash="2" * 64), 2, "does not chain"),
    ("a kept record", lambda: _set(3, lifetime="session"), 3, "content does not match"),
    ("the first, kept record", lambda: _set(1, page_path="/x"), 1, "content does not match"),
    (
        # A forger "redacts" a record while keeping (edited) content: the digest fits,
        # but a redacted record must hold nothing.
        "forged redaction",
        lambda: _set(
            3, content_digest=content_hash(_record(3)), erased_at=NOW, action="accept_all"
        ),
        3,
        "still holds content",
    ),
    ("a redacted row removed", lambda: _remove(2), 2, "missing"),
]


@pytest.mark.parametrize(
    ("edit", "broken_at", "reason"),
    [t[1:] for t in TAMPERING],
    ids=[t[0] for t in TAMPERING],
)
def test_tampering_after_redaction_is_still_found(make_app, edit, broken_at, reason):
    app = make_app(SITES_FILE=TWO_SITES)
    made = _decide(app.test_client(), 4)
    with app.app_context():
        _redact([made["demo"][1], made["demo"][3]])
        assert verify_chain("demo") == ChainReport("demo", True, 4)
        edit()
        report = verify_chain("demo")
        assert (report.valid, report.broken_at) == (False, broken_at), report
        assert reason in report.reason
        assert verify_chain("shop").valid  # the other site's chain is its own


def test_a_record_edited_before_its_redaction_stays_found(make_app):
    app = make_app(SITES_FILE=TWO_SITES)
    made = _decide(app.test_client(), 3)
    with app.app_context():
        _set(2, choices={"necessary": True, "analytics": False, "marketing": False})
        _redact([made["demo"][1]])  # redaction must not launder the edit
        report = verify_chain("demo")
        assert (report.valid, report.broken_at) == (False, 2)
        assert "stored digest" in report.reason
        # A forger who also fixes the record's own hash breaks the next link.
        _relink(2, _record(2).content_digest)
        assert verify_chain("demo") == ChainReport(
            "demo", False, 3, 3, "does not chain to the previous record"
        )


def _check(client, receipt: str) -> dict:
    response = client.post("/api/v1/receipts/verify", json={"receipt": receipt})
    assert response.status_code == 200
    return response.get_json()


def test_a_receipt_of_a_redacted_record_answers_erased(make_app):
    app = make_app(SITES_FILE=TWO_SITES)
    client = app.test_client()
    key = {"Idempotency-Key": "k-" + uuid.uuid4().hex}
    first = post(client, decision(), headers=key).get_json()
    again = post(client, decision(consent_id=first["consent_id"], lifetime="session")).get_json()
    other = post(client, decision()).get_json()
    with app.app_context():
        assert _redact([first["consent_id"]]) == 2
        assert db.session.scalar(db.select(db.func.count()).select_from(IdempotencyKey)) == 0

    for erased in (first, again):
        check = _check(client, erased["receipt"])
        assert (check["valid"], check["matches_record"]) == (True, False)
        assert check["mismatches"] == ["erased"]
    kept = _check(client, other["receipt"])
    assert (kept["matches_record"], kept["mismatches"]) == (True, [])
    # The visitor's state is gone; the same key again makes a new decision, not the old one.
    assert client.get(f"/api/v1/consents/{first['consent_id']}").status_code == 404
    retried = post(client, decision(), headers=key)
    assert retried.status_code == 201
    assert retried.get_json()["consent_id"] != first["consent_id"]
    with app.app_context():
        assert verify_chain("demo") == ChainReport("demo", True, 4)


class _Recorder:
    """A sink that finds every event missing and records what is sent again."""

    def __init__(self):
        self.emitted: list[str] = []

    def missing_events(self, table, event_ids, since=None):
        return {str(uuid.UUID(i)) for i in event_ids}

    def emit(self, table, row):
        self.emitted.append(row["event_id"])


def test_a_redacted_records_erased_event_is_never_sent_again(make_app):
    app = make_app(SITES_FILE=TWO_SITES)
    made = _decide(app.test_client(), 3)
    with app.app_context():
        _redact([made["demo"][0], made["shop"][2]])
        kept = [r.record_id for site in SITES for r in _rows(site) if r.erased_at is None]
        sink = _Recorder()
        Reconciler(sink, grace=0).run()  # every record settled at once
    assert sorted(sink.emitted) == sorted(event_id(r) for r in kept)
    assert len(kept) == 4
