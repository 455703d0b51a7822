"""The hash chain's exact form, its reports, batch retries and the sites table it heads."""

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import decision
from sqlalchemy import update
from two_sites import TWO_SITES, post, shop_decision

from consent import chain
from consent.chain import ChainReport, content_hash, link_hash, record_hash, verify_chain
from consent.models import GENESIS, ConsentRecord, NewRecord, SiteRow
from consent.sites import load_sites
from core.db import db

RECORD = NewRecord(
    record_id="0" * 31 + "1",
    consent_id="ab" * 16,
    site_id="shop",
    action="custom",
    choices={"necessary": True, "analytics": True, "marketing": False},
    lifetime="persistent",
    policy_version="2026-12-15",
    texts_hash="c" * 64,
    language="fr",
    region="DE-BY",
    region_rule="gdpr",
    region_model="opt-in",
    dnt=True,
    gpc=False,
    ip_prefix=None,
    ua_family="Firefox",
    page_origin="https://shop.example",
    page_path='/cart?x="é"',
    created_at=datetime(2026, 12, 1, 8, 30, 0, 123456, tzinfo=UTC),
    expires_at=datetime(2027, 6, 19, 8, 30, 0, 123456, tzinfo=UTC),
)
# The text a record's content hash is taken over: sorted keys, no spaces, UTF-8, times in
# UTC with microseconds and a Z. Every stored proof was hashed over this form.
CANONICAL = (
    '{"action":"custom","choices":{"analytics":true,"marketing":false,"necessary":true},'
    '"consent_id":"abababababababababababababababab","created_at":"2026-12-01T08:30:00.123456Z",'
    '"dnt":true,"expires_at":"2027-06-19T08:30:00.123456Z","gpc":false,"ip_prefix":null,'
    '"language":"fr","lifetime":"persistent","page_origin":"https://shop.example",'
    '"page_path":"/cart?x=\\"é\\"","policy_version":"2026-12-15",'
    '"record_id":"00000000000000000000000000000001","region":"DE-BY","region_model":"opt-in",'
    '"region_rule":"gdpr","site_id":"shop","texts_hash":"' + "c" * 64 + '",'
    '"ua_family":"Firefox"}'
)


def test_the_hashes_of_a_record_never_drift():
    content = content_hash(RECORD)
    assert content == hashlib.sha256(CANONICAL.encode()).hexdigest()
    assert content == "4cb7e6ead40ec550d8b0fa494335c8f0063450dc7d3bda382245907a6d07421c"
    link = link_hash(GENESIS, 1, content)
    assert link == hashlib.sha256(f"{GENESIS}:1:{content}".encode()).hexdigest()
    assert link == "defe66519f07a45398913a36a9526b4df92a6e62ba2206f42ddb5531cf3299e7"
    # The same instant given in another zone is the same content.
    shifted = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert content_hash(_with(created_at=shifted)) == content


# Hashes the implementation before the written-out field reading gave (a loop converting
# every datetime with utc_text): a session record with a naive time as SQLite reads it
# back, no expiry, an IPv6 prefix and no UA family; then the same persistent, with its
# creation in another zone and an aware expiry. Stored chains were hashed over these.
SESSION_RECORD = dict(
    record_id="f" * 32,
    consent_id="0123456789abcdef" * 2,
    site_id="demo",
    action="gpc",
    choices={"necessary": True, "zeta": False, "analytics": False},
    lifetime="session",
    policy_version="v2 ☃",
    texts_hash="d" * 64,
    language="de",
    region="",
    region_rule="strictest-default",
    region_model="opt-in",
    dnt=False,
    gpc=True,
    ip_prefix="2001:db8:1::/48",
    ua_family=None,
    page_origin=None,
    page_path=None,
    created_at=datetime(2026, 12, 31, 23, 59, 59),
    expires_at=None,
)
PERSISTENT_ELSEWHERE = {
    "lifetime": "persistent",
    "created_at": datetime(2027, 1, 1, 1, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    "expires_at": datetime(2027, 6, 30, 12, 0, tzinfo=UTC),
}


@pytest.mark.parametrize("kind", [NewRecord, ConsentRecord])
def test_known_records_keep_their_hashes(kind):
    session = kind(**SESSION_RECORD)
    assert content_hash(session) == (
        "62ddd938201ec76faa5859871602f9d9dd98d7604528015d4a29f76bdbd2e8a0"
    )
    persistent = kind(**SESSION_RECORD | PERSISTENT_ELSEWHERE)
    assert content_hash(persistent) == (
        "3819a2df835e4bca0135b0736fd9e74dfc65921139b81b6dc1f18bde5f894a15"
    )


def test_every_time_column_is_hashed_as_utc_text():
    # Not content: a redaction's mark and an erasure's bookkeeping (consent.redaction).
    marks = {"erased_at", "events_erased_at"}
    times = [
        c.key
        for c in ConsentRecord.__table__.columns
        if c.type.python_type is datetime and c.key not in marks
    ]
    assert chain._TIMES == times == ["created_at", "expires_at"]


def _with(**fields) -> NewRecord:
    values = {name: getattr(RECORD, name) for name in NewRecord.__dataclass_fields__}
    return NewRecord(**values | fields)


# --- reports ----------------------------------------------------------------------------


def _decide(app, n: int) -> None:
    client = app.test_client()
    for _ in range(n):
        assert post(client, decision()).status_code == 201


def _edit_site_row(app, **values) -> None:
    db.session.execute(update(SiteRow).where(SiteRow.id == "demo").values(**values))
    db.session.commit()


def test_verify_reports_exactly_where_and_why(make_app):
    app = make_app(SITES_FILE=TWO_SITES)
    _decide(app, 3)
    with app.app_context():
        assert verify_chain("demo") == ChainReport("demo", True, 3)
        assert verify_chain("shop") == ChainReport("shop", True, 0)

        # The newest record removed: the chain itself is intact, the site row tells.
        newest = db.session.scalars(db.select(ConsentRecord).where(ConsentRecord.seq == 3)).one()
        head_hash = newest.hash
        db.session.delete(newest)
        db.session.commit()
        assert verify_chain("demo") == ChainReport(
            "demo", False, 2, 3, "records after this one are missing"
        )

        second = db.session.scalars(db.select(ConsentRecord).where(ConsentRecord.seq == 2)).one()
        # Only the length differs (the head hash agrees): still reported.
        _edit_site_row(app, chain_seq=3, chain_head=second.hash)
        assert not verify_chain("demo").valid
        # Only the head hash differs.
        _edit_site_row(app, chain_seq=2, chain_head=head_hash)
        assert not verify_chain("demo").valid
        _edit_site_row(app, chain_head=second.hash)
        assert verify_chain("demo") == ChainReport("demo", True, 2)

        # A forger who rewrites a record and its own hash breaks the link of the next one.
        first = db.session.scalars(db.select(ConsentRecord).where(ConsentRecord.seq == 1)).one()
        first.action = "reject_all"
        first.hash = record_hash(first)
        db.session.commit()
        assert verify_chain("demo") == ChainReport(
            "demo", False, 2, 2, "does not chain to the previous record"
        )


# --- batches ----------------------------------------------------------------------------


def test_a_batch_of_two_with_a_bad_record_commits_the_good_one_even_for_a_new_site(make_app):
    app = make_app(SITES_FILE=TWO_SITES)
    now = datetime.now(UTC)
    with app.app_context():
        # No site rows yet (sites added since the last upgrade): they are added on the way.
        db.session.execute(db.delete(SiteRow))
        db.session.commit()
        site = app.extensions["sites"].get("shop")
        good = _with(record_id="a" * 32, site_id="shop")
        twin = _with(record_id="a" * 32, site_id="shop")  # the same record id: refused
        batch = [chain._Pending(site, r, content_hash(r)) for r in (good, twin)]
        chain._write_batch(batch, now)

        assert [p.done for p in batch] == [True, True]
        assert batch[0].error is None
        assert batch[1].error is not None
        row = db.session.get(SiteRow, "shop")
        assert (row.chain_seq, row.chain_head) == (1, good.hash)
        assert row.updated_at is not None
        assert verify_chain("shop") == ChainReport("shop", True, 1)


# --- the sites table --------------------------------------------------------------------


def test_sync_sites_updates_each_site_from_its_own_entry(make_app, tmp_path):
    app = make_app(SITES_FILE=TWO_SITES)
    _decide(app, 1)  # demo's chain has a record: syncing must keep it
    assert post(app.test_client(), shop_decision()).status_code == 201  # both rows exist
    text = Path(TWO_SITES).read_text()
    text = text.replace('name = "Consentry demo"', 'name = "Renamed demo"')
    text = text.replace('policy_version = "2026-12-15"', 'policy_version = "2027-02-01"')
    changed = tmp_path / "changed.toml"
    changed.write_text(text)
    later = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
    with app.app_context():
        chain.sync_sites(load_sites(changed), later)
        rows = {r.id: r for r in db.session.scalars(db.select(SiteRow))}
        demo, shop = rows["demo"], rows["shop"]
        assert (demo.name, demo.policy_version) == ("Renamed demo", "2026-11-01")
        assert (shop.name, shop.policy_version) == ("Example shop", "2027-02-01")
        assert {_naive(demo.updated_at), _naive(shop.updated_at)} == {_naive(later)}
        assert (demo.chain_seq, shop.chain_seq) == (1, 1)
        assert verify_chain("demo").valid


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@pytest.mark.parametrize("body", [decision(), shop_decision()], ids=["demo", "shop"])
def test_a_site_row_added_by_a_decision_carries_the_sites_name(make_app, body):
    app = make_app(SITES_FILE=TWO_SITES)
    assert post(app.test_client(), body).status_code == 201
    with app.app_context():
        row = db.session.get(SiteRow, body["site"])
        site = app.extensions["sites"].get(body["site"])
        assert (row.name, row.policy_version, row.chain_seq) == (
            site.name,
            site.policy_version,
            1,
        )
