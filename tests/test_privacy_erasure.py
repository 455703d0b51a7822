"""Erasure across SQL and ClickHouse, and retention with frozen time."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from factories import clickhouse_rows
from privacy_support import confirm_token, form_token, seed, smtp_server
from sqlalchemy import func, select

from consent.models import ConsentRecord
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


def test_erasure_removes_the_subject_from_both_stores_and_keeps_a_tombstone(make_app, smtp):
    controller, inbox = smtp
    app = make_app(
        SMTP_URL=f"smtp://{controller.hostname}:{controller.port}",
        PRIVACY_RATE_LIMIT="100 per minute",
        PRIVACY_ERASE_CONSENT_RECORDS="delete",
    )
    client = app.test_client()
    auth, people = seed(app, client)
    ann, bob = people["ann"], people["bob"]
    # Bob unsubscribes from everything: his suppression must survive Ann's erasure.
    client.post(
        f"/api/v1/recipients/{bob.recipient}/tracking", json={"consent": "denied"}, headers=auth
    )
    before_ann, before_bob = _sql_counts(app, ann), _sql_counts(app, bob)
    ch_ann, ch_bob = _ch_counts(app, ann), _ch_counts(app, bob)
    assert before_ann["recipients"] == 1
    assert before_ann["messages"] == 2
    assert ch_ann["email_events"] == 2
    assert ch_ann["consent_events"] >= 1

    token = form_token(client)
    asked = client.post(
        "/privacy",
        data={
            "form_token": token,
            "kind": "deletion",
            "email": ann.email,
            "consent_id": ann.consent_id,
        },
    )
    assert asked.status_code == 200
    _, path = inbox.next_link()
    done = client.post(path, data={"form_token": confirm_token(client, path)})
    assert done.status_code == 200, done.text

    after_ann = _sql_counts(app, ann)
    assert after_ann == {
        "recipients": 0,
        "messages": 0,
        "suppressions_by_id": 0,
        "tombstones": 1,
        "consent_records": 0,
    }
    assert _ch_counts(app, ann) == {"email_events": 0, "consent_events": 0}
    assert _sql_counts(app, bob) == before_bob
    assert _ch_counts(app, bob) == ch_bob

    with app.app_context():
        request = db.session.scalars(select(PrivacyRequest)).one()
        assert request.status == "completed"
        assert request.email is None
        assert request.result["sql"]["messages"] == 2
        assert request.result["clickhouse"]["email_events"] == 2
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "erasure")) == 1

    again = client.post(
        "/api/v1/messages",
        json={"campaign": "c-after", "recipient": "crm-new-id", "email": "ann@example.com"},
        headers=auth,
    )
    assert again.status_code == 201
    assert again.json["suppressed"] is True


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
            "consent_records": 0,
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
