"""Erasure across SQL and ClickHouse, and retention with frozen time."""

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
from email_hits_support import BROWSER, GMAIL_PROXY
from factories import clickhouse_rows, decision, post_decision
from privacy_support import confirm_token, form_token, seed, smtp_server
from sqlalchemy import func, select
from two_sites import TWO_SITES, post, shop_decision

from consent.chain import ChainReport, verify_chain
from consent.models import ConsentRecord
from consent.reconcile import Reconciler
from core.db import db
from pixel import identity
from pixel.models import Message, Recipient, Suppression
from privacy import retention
from privacy.models import AuditEntry, PrivacyRequest


@pytest.fixture
def smtp():
    controller, inbox = smtp_server()
    yield controller, inbox
    controller.stop()


def _sql_counts(app, person) -> dict:
    with app.app_context():
        keys = app.config["SECRET_KEYS"]
        hashes = identity.email_hashes(keys, person.email)
        rids = select(Recipient.id).where(Recipient.external_id == person.recipient)
        count = lambda q: db.session.scalar(select(func.count()).select_from(q.subquery()))  # noqa: E731
        return {
            "recipients": count(select(Recipient).where(Recipient.external_id == person.recipient)),
            "messages": count(select(Message).where(Message.recipient_id.in_(rids))),
            "suppressions_by_id": count(
                select(Suppression).where(Suppression.recipient == person.recipient)
            ),
            "tombstones": count(
                select(Suppression).where(
                    Suppression.email_hash.in_(hashes), Suppression.recipient.is_(None)
                )
            ),
            "consent_records": count(
                select(ConsentRecord).where(ConsentRecord.consent_id == person.consent_id)
            ),
        }


def _ch_counts(app, person) -> dict:
    with app.app_context():
        pseudonym = identity.pseudonym(app.config["SECRET_KEYS"], "demo", person.recipient)
    email = clickhouse_rows(
        app,
        "SELECT count() FROM email_events WHERE recipient = {p:String} "
        "OR message_id IN {m:Array(String)}",
        p=pseudonym,
        m=person.message_ids,
    )[0][0]
    consent = clickhouse_rows(
        app, "SELECT count() FROM consent_events WHERE consent_id = {c:String}", c=person.consent_id
    )[0][0]
    return {"email_events": email, "consent_events": consent}


def _erase(client, inbox, person) -> None:
    """Ask for the person's deletion on the portal and follow the mailed link."""
    token = form_token(client)
    asked = client.post(
        "/privacy",
        data={
            "form_token": token,
            "kind": "deletion",
            "email": person.email,
            "consent_id": person.consent_id,
        },
    )
    assert asked.status_code == 200
    _, path = inbox.next_link()
    done = client.post(path, data={"form_token": confirm_token(client, path)})
    assert done.status_code == 200, done.text


def _chain(app, site: str = "demo") -> tuple[bool, int, int]:
    """Whether the site's chain verifies, its length, and how many records are redacted."""
    with app.app_context():
        report = verify_chain(site)
        redacted = db.session.scalar(
            select(func.count()).where(
                ConsentRecord.site_id == site, ConsentRecord.erased_at.is_not(None)
            )
        )
    return report.valid, report.records, redacted


@pytest.mark.parametrize("records", ["keep", "redact"])
def test_erasure_removes_the_subject_from_both_stores_and_keeps_a_tombstone(
    make_app, smtp, records
):
    controller, inbox = smtp
    app = make_app(
        SMTP_URL=f"smtp://{controller.hostname}:{controller.port}",
        PRIVACY_RATE_LIMIT="100 per minute",
        PRIVACY_ERASE_CONSENT_RECORDS=records,
    )
    client = app.test_client()
    auth, people = seed(app, client)
    ann, bob = people["ann"], people["bob"]
    # Ann decides twice more (one decision after Bob's): her records sit inside the chain.
    for choices in ({"analytics": False}, {"marketing": False}):
        again = post_decision(client, consent_id=ann.consent_id, choices=choices)
        assert again.json["consent_id"] == ann.consent_id
    assert post_decision(client).status_code == 201  # a third visitor, after them
    # Bob unsubscribes from everything: his suppression must survive Ann's erasure.
    client.post(
        f"/api/v1/recipients/{bob.recipient}/tracking", json={"consent": "denied"}, headers=auth
    )
    before_ann, before_bob = _sql_counts(app, ann), _sql_counts(app, bob)
    ch_ann, ch_bob = _ch_counts(app, ann), _ch_counts(app, bob)
    assert before_ann["recipients"] == 1
    assert before_ann["messages"] == 2
    assert before_ann["consent_records"] == 3
    assert ch_ann["email_events"] == 2
    assert ch_ann["consent_events"] >= 3
    assert _chain(app) == (True, 5, 0)

    _erase(client, inbox, ann)

    after_ann = _sql_counts(app, ann)
    assert after_ann == {
        "recipients": 0,
        "messages": 0,
        "suppressions_by_id": 0,
        "tombstones": 1,
        "consent_records": 3 if records == "keep" else 0,
    }
    assert _ch_counts(app, ann) == {"email_events": 0, "consent_events": 0}
    # The reconciler re-sends the decision events ClickHouse lacks: Ann's erased events
    # look lost to it, and must not come back (kept records included).
    with app.app_context():
        Reconciler(app.extensions["events"], grace=0).run()
    assert app.extensions["events"].flush(timeout=10)
    assert _ch_counts(app, ann) == {"email_events": 0, "consent_events": 0}
    assert _sql_counts(app, bob) == before_bob
    assert _ch_counts(app, bob) == ch_bob
    # Redacted or kept, the site's proof chain verifies end to end.
    assert _chain(app) == (True, 5, 0 if records == "keep" else 3)

    with app.app_context():
        request = db.session.scalars(select(PrivacyRequest)).one()
        assert request.status == "completed"
        assert request.email is None
        assert request.result["sql"]["messages"] == 2
        assert request.result["sql"]["consent_records_redacted"] == (
            3 if records == "redact" else 0
        )
        assert request.result["clickhouse"]["email_events"] == 2
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "erasure")) == 1

    again = client.post(
        "/api/v1/messages",
        json={"campaign": "c-after", "recipient": "crm-new-id", "email": "ann@example.com"},
        headers=auth,
    )
    assert again.status_code == 201
    assert again.json["suppressed"] is True


def _reports(client, auth) -> dict:
    answers = {}
    for name in ("open-rates", "consent-rates"):
        answer = client.get(f"/api/v1/reports/{name}", headers=auth)
        assert answer.status_code == 200, answer.json
        answers[name] = answer.json
    return answers


def test_report_numbers_are_the_same_after_an_erasure(make_app, smtp):
    controller, inbox = smtp
    app = make_app(
        SMTP_URL=f"smtp://{controller.hostname}:{controller.port}",
        PRIVACY_RATE_LIMIT="100 per minute",
        PRIVACY_ERASE_CONSENT_RECORDS="redact",
    )
    client = app.test_client()
    auth, people = seed(app, client)
    ann, bob = people["ann"], people["bob"]
    # Both open their mail (Ann hers twice), from a browser and through Gmail's proxy.
    for person, agent in ((ann, BROWSER), (ann, GMAIL_PROXY), (bob, BROWSER)):
        for path in person.pixel_paths:
            assert client.get(path, headers={"User-Agent": agent}).status_code == 200
    assert post_decision(client, consent_id=ann.consent_id, choices={}).status_code == 201
    ch_ann, ch_bob = _ch_counts(app, ann), _ch_counts(app, bob)  # ships everything first
    assert ch_ann == {"email_events": 2 + 4, "consent_events": 2}
    before = _reports(client, auth)
    shared = next(r for r in before["open-rates"]["rows"] if r["campaign"] == "c-shared")
    assert (shared["sent"], shared["opens"], shared["unique_opens"]) == (2, 3, 2)
    (demo,) = before["consent-rates"]["rows"]
    assert (demo["decisions"], demo["visitors"]) == (3, 2)

    _erase(client, inbox, ann)

    assert _ch_counts(app, ann) == {"email_events": 0, "consent_events": 0}
    assert _ch_counts(app, bob) == ch_bob
    assert _reports(client, auth) == before
    assert _chain(app) == (True, 3, 2)


def _daily_run_done(app) -> None:
    """Wait for the server's own first retention run, so it cannot race the one tested."""
    pipeline = app.extensions["events"]
    deadline = time.monotonic() + 30
    while pipeline.health()["tasks"].get("privacy_retention", {}).get("last_ok_at") is None:
        assert time.monotonic() < deadline, pipeline.health()
        pipeline.flush(timeout=1)


def test_retention_removes_exactly_what_is_past_its_period(make_app):
    app = make_app(PRIVACY_MESSAGE_DAYS=30, PRIVACY_REQUEST_YEARS=1, PRIVACY_UNVERIFIED_DAYS=7)
    client = app.test_client()
    _, people = seed(app, client)
    _daily_run_done(app)
    now = datetime.now(UTC)
    with app.app_context():
        old, young = people["ann"].message_ids[0], people["bob"].message_ids[0]
        db.session.get(Message, old).created_at = now - timedelta(days=31)
        db.session.get(Message, young).created_at = now - timedelta(days=29)
        for i, (created, closed, status) in enumerate(
            [
                (now - timedelta(days=8), None, "received"),  # expires
                (now - timedelta(days=6), None, "received"),  # stays
                (now - timedelta(days=400), now - timedelta(days=366), "completed"),  # goes
                (now - timedelta(days=400), now - timedelta(days=364), "completed"),  # stays
                (now - timedelta(days=2), None, "verified"),  # its export lapsed: completed
            ]
        ):
            db.session.add(
                PrivacyRequest(
                    id=f"{i:032x}", kind="access", status=status, email_hash="h", language="en",
                    created_at=created, deadline_at=created, closed_at=closed,
                    verified_at=created if status == "verified" else None,
                )
            )  # fmt: skip
        db.session.commit()
        removed = retention.run(retention.Periods.from_config(app.config), now)
        assert removed == {
            "expired_requests": 1,
            "lapsed_exports": 1,
            "messages": 1,
            "requests": 1,
            "consent_records_redacted": 0,
        }
        assert db.session.get(Message, old) is None
        assert db.session.get(Message, young) is not None
        statuses = {r.id: r.status for r in db.session.scalars(select(PrivacyRequest))}
        assert statuses == {
            f"{0:032x}": "expired",
            f"{1:032x}": "received",
            f"{3:032x}": "completed",
            f"{4:032x}": "completed",
        }


def test_retention_runs_from_the_command_line(make_app):
    app = make_app()
    with app.app_context():
        db.session.add(
            PrivacyRequest(
                id="a" * 32, kind="access", status="received", email_hash="h", language="en",
                created_at=datetime.now(UTC) - timedelta(days=8),
                deadline_at=datetime.now(UTC), email="x@example.com",
            )
        )  # fmt: skip
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "expired_requests: 1" in result.output
    with app.app_context():
        request = db.session.get(PrivacyRequest, "a" * 32)
        assert request.status == "expired"
        assert request.email is None
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "retention")) == 1


def test_retention_redacts_exactly_the_consent_records_past_their_period(make_app):
    app = make_app(SITES_FILE=TWO_SITES)
    client = app.test_client()
    made = {}
    start = datetime.now(UTC)
    for name, body in (
        ("demo_session", decision(lifetime="session")),  # lapses with its session
        ("shop_reject", shop_decision(choices={"analytics": False, "marketing": False})),  # 30 d
        ("demo_persistent", decision()),  # 180 days
        ("shop_accept", shop_decision()),  # 200 days
    ):
        answer = post(client, body)
        assert answer.status_code == 201, answer.json
        made[answer.json["record_id"]] = name
    _daily_run_done(app)  # started by the first event: it finds nothing lapsed
    periods = retention.Periods.from_config(app.config)
    assert periods.consent_record_years == 3  # the default
    kept_for = timedelta(days=365 * 3)

    def redacted_after(days: int) -> tuple[int, set[str]]:
        with app.app_context():
            removed = retention.run(periods, start + kept_for + timedelta(days=days))
            assert verify_chain("demo") == ChainReport("demo", True, 2)
            assert verify_chain("shop") == ChainReport("shop", True, 2)
            query = select(ConsentRecord.record_id).where(ConsentRecord.erased_at.is_not(None))
            return removed["consent_records_redacted"], {made[r] for r in db.session.scalars(query)}

    with app.app_context():  # 0: kept for good
        never = retention.run(
            dataclasses.replace(periods, consent_record_years=0), start + timedelta(days=36500)
        )
        assert never["consent_records_redacted"] == 0
    assert redacted_after(29) == (1, {"demo_session"})
    assert redacted_after(100) == (1, {"demo_session", "shop_reject"})
    assert redacted_after(100) == (0, {"demo_session", "shop_reject"})
    assert redacted_after(190) == (1, {"demo_session", "shop_reject", "demo_persistent"})
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "retention")) == 3
