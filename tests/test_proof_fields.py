"""Every stored field of a proof record is covered by its hash: editing any one shows."""

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from factories import decision
from sqlalchemy import update
from two_sites import CHROME, TWO_SITES, post

from consent import chain
from consent.chain import verify_chain
from consent.models import GENESIS, ConsentRecord, SiteRow
from core.db import db

# The chain's own columns: covered by the link hash (seq, prev_hash) or being it (hash).
CHAIN_COLUMNS = {"id", "seq", "prev_hash", "hash"}
# A redaction's marks (consent.redaction): verify checks them with the link, not the content.
REDACTION_COLUMNS = {"content_digest", "erased_at"}
# Not proof but bookkeeping: an erasure in keep mode removed the record's event
# (consent.redaction.forget_events); it only stops the reconciler sending it again.
BOOKKEEPING_COLUMNS = {"events_erased_at"}
CONTENT_COLUMNS = [
    c.key
    for c in ConsentRecord.__table__.columns
    if c.key not in CHAIN_COLUMNS | REDACTION_COLUMNS | BOOKKEEPING_COLUMNS
]

# A different value for each content column, as a forger would write it into the table.
EDITS = {
    "record_id": lambda old: uuid.uuid4().hex,
    "consent_id": lambda old: secrets.token_hex(16),
    "action": lambda old: "reject_all",
    "choices": lambda old: {**old, "analytics": not old["analytics"]},
    "lifetime": lambda old: "session",
    "policy_version": lambda old: "2020-01-01",
    "texts_hash": lambda old: "f" * 64,
    "language": lambda old: "de",
    "region": lambda old: "FR",
    "region_rule": lambda old: "rest-of-world",
    "region_model": lambda old: "notice",
    "dnt": lambda old: not old,
    "gpc": lambda old: not old,
    "ip_prefix": lambda old: "198.51.100.0/24",
    "ua_family": lambda old: "Firefox",
    "page_origin": lambda old: "http://localhost:1",
    "page_path": lambda old: "/elsewhere",
    "created_at": lambda old: old + timedelta(microseconds=1),
    "expires_at": lambda old: old + timedelta(microseconds=1),
}


def test_the_hashed_fields_are_every_column_but_the_chains_own():
    assert len(chain._CONTENT) == len(set(chain._CONTENT))
    assert sorted(chain._CONTENT) == sorted(CONTENT_COLUMNS)
    # Each content column has an edit below (site_id has its own test), so none goes untried.
    assert sorted([*EDITS, "site_id"]) == sorted(CONTENT_COLUMNS)


def _decide_three(client) -> None:
    # Every field set to something (DNT and GPC on, a region, a page, a UA family), so an
    # edit of any one is a real change.
    headers = {"DNT": "1", "Sec-GPC": "1", "X-Country-Code": "DE", "User-Agent": CHROME}
    for _ in range(3):
        body = decision(choices={"analytics": True}, page="/pricing")
        assert post(client, body, headers).status_code == 201


@pytest.mark.parametrize("column", sorted(EDITS))
def test_editing_any_content_column_breaks_the_chain_at_that_record(make_app, column):
    app = make_app(SITES_FILE=TWO_SITES)
    _decide_three(app.test_client())
    with app.app_context():
        record = db.session.scalars(db.select(ConsentRecord).where(ConsentRecord.seq == 2)).one()
        old = getattr(record, column)
        assert old is not None
        new = EDITS[column](old)
        assert new != old
        db.session.execute(
            update(ConsentRecord).where(ConsentRecord.id == record.id).values({column: new})
        )
        db.session.commit()
        report = verify_chain("demo")
    assert (report.valid, report.broken_at, report.reason) == (
        False,
        2,
        "its content does not match its hash",
    )


@pytest.mark.parametrize(
    "marks",
    [
        {"erased_at": datetime(2027, 1, 1, tzinfo=UTC)},
        {"content_digest": "d" * 64},
    ],
    ids=["erased_at", "content_digest"],
)
def test_half_a_redaction_mark_on_a_kept_record_breaks_the_chain(make_app, marks):
    app = make_app(SITES_FILE=TWO_SITES)
    _decide_three(app.test_client())
    with app.app_context():
        db.session.execute(update(ConsentRecord).where(ConsentRecord.seq == 2).values(marks))
        db.session.commit()
        report = verify_chain("demo")
    assert (report.valid, report.broken_at, report.reason) == (
        False,
        2,
        "it is marked redacted only in part",
    )


def test_a_record_moved_to_another_site_with_both_heads_fixed_is_detected(make_app):
    app = make_app(SITES_FILE=TWO_SITES)
    assert post(app.test_client(), decision()).status_code == 201
    with app.app_context():
        chain.sync_sites(app.extensions["sites"], datetime.now(UTC))
        record = db.session.scalars(db.select(ConsentRecord)).one()
        # The forger moves demo's only record to shop and makes both site rows agree:
        # seq 1 after the genesis hash fits shop's empty chain, so only the content can tell.
        db.session.execute(
            update(ConsentRecord).where(ConsentRecord.id == record.id).values(site_id="shop")
        )
        db.session.execute(
            update(SiteRow).where(SiteRow.id == "shop").values(chain_seq=1, chain_head=record.hash)
        )
        db.session.execute(
            update(SiteRow).where(SiteRow.id == "demo").values(chain_seq=0, chain_head=GENESIS)
        )
        db.session.commit()
        assert verify_chain("demo").valid is True  # nothing left there, and the head agrees
        report = verify_chain("shop")
    assert (report.valid, report.broken_at, report.reason) == (
        False,
        1,
        "its content does not match its hash",
    )
