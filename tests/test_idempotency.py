"""Idempotency-Key on decisions: a retry answers the first decision and writes nothing."""

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import ORIGIN, clickhouse_rows, decision, post_decision

from consent import chain
from consent.chain import verify_chain
from consent.idempotency import RequestKey
from consent.models import ConsentRecord, IdempotencyKey, NewRecord, SiteRow
from core.db import db

TWO_SITES = str(Path(__file__).parent / "data" / "two_sites.toml")


def _keyed(client, key: str, **overrides):
    return post_decision(client, headers={"Idempotency-Key": key}, **overrides)


def _written(app) -> tuple[int, int, int]:
    """Records stored, places taken in the chains, decision events (once shipped)."""
    with app.app_context():
        records = db.session.scalar(db.select(db.func.count()).select_from(ConsentRecord))
        places = db.session.scalar(db.select(db.func.coalesce(db.func.sum(SiteRow.chain_seq), 0)))
    [(events,)] = clickhouse_rows(app, "SELECT count() FROM consent_events WHERE kind = 'decision'")
    return records, places, events


def test_a_retry_answers_the_first_decision_and_writes_nothing(app, client):
    first = _keyed(client, '"a1b2-retry"', choices={"analytics": True}, page="/cart")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert _written(app) == (1, 1, 1)

    # The same key unquoted, the same body with its keys in another order.
    body = dict(reversed(list(decision(choices={"analytics": True}, page="/cart").items())))
    retry = client.post(
        "/api/v1/consents",
        data=json.dumps(body, indent=2),
        content_type="application/json",
        headers={"Origin": ORIGIN, "Idempotency-Key": "a1b2-retry"},
    )
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert _written(app) == (1, 1, 1)

    # Without a key, the same body is a new decision.
    assert "Idempotent-Replayed" not in post_decision(client, choices={"analytics": True}).headers
    assert _written(app) == (2, 2, 2)


def test_a_retry_after_the_policy_changed_still_answers_the_first_decision(make_app, tmp_path):
    app = make_app()
    first = _keyed(app.test_client(), "policy-retry").get_json()
    newer = tmp_path / "sites.toml"
    newer.write_text(Path(app.config["SITES_FILE"]).read_text().replace("2026-11-01", "2026-12-01"))
    later = make_app(SITES_FILE=str(newer)).test_client()
    assert post_decision(later).status_code == 409  # a new decision needs the new policy
    retry = _keyed(later, "policy-retry")
    assert (retry.status_code, retry.get_json()) == (201, first)


def test_the_same_key_with_another_body_is_refused(app, client):
    first = _keyed(client, "k-1")
    assert first.status_code == 201
    for other in (
        {"choices": {}},
        {"lifetime": "session"},
        {"consent_id": first.json["consent_id"]},
    ):
        refused = _keyed(client, "k-1", **other)
        assert refused.status_code == 422
        assert refused.get_json()["error"]["code"] == "idempotency_key_reused"
    assert _written(app) == (1, 1, 1)


@pytest.mark.parametrize(
    ("age", "replayed"),
    [(timedelta(hours=23, minutes=59), True), (timedelta(hours=24, seconds=1), False)],
)
def test_a_key_older_than_a_day_makes_a_new_decision(app, client, age, replayed):
    first = _keyed(client, "old-key").get_json()
    with app.app_context():
        db.session.execute(db.update(IdempotencyKey).values(created_at=datetime.now(UTC) - age))
        db.session.commit()
    again = _keyed(client, "old-key", choices={})
    if replayed:
        assert again.status_code == 422
        assert again.get_json()["error"]["code"] == "idempotency_key_reused"
        assert _written(app) == (1, 1, 1)
        return
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert again.get_json()["record_id"] != first["record_id"]
    assert _written(app) == (2, 2, 2)
    # The key now stands for the new decision.
    retry = _keyed(client, "old-key", choices={})
    assert retry.get_json() == again.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_keys_a_day_old_are_purged(app, client):
    post_decision(client)  # the site's row exists
    stale = datetime.now(UTC) - timedelta(hours=25)
    with app.app_context():
        db.session.add(
            IdempotencyKey(
                site_id="demo", key="stale", fingerprint="0" * 64, record_id="0" * 32,
                created_at=stale,
            )
        )  # fmt: skip
        db.session.commit()
    assert _keyed(client, "fresh").status_code == 201
    with app.app_context():
        assert db.session.scalars(db.select(IdempotencyKey.key)).all() == ["fresh"]


def test_keys_are_scoped_per_site(make_app):
    app = make_app(SITES_FILE=TWO_SITES)
    client = app.test_client()
    demo = _keyed(client, "same-key")
    shop = _keyed(client, "same-key", site="shop")
    assert (demo.status_code, shop.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in shop.headers
    assert demo.get_json()["record_id"] != shop.get_json()["record_id"]
    assert _keyed(client, "same-key", site="shop").get_json() == shop.get_json()
    assert _keyed(client, "same-key").get_json() == demo.get_json()
    assert _written(app) == (2, 2, 2)


def test_concurrent_requests_with_one_key_make_one_record(app):
    start = threading.Barrier(8)

    def decide(_):
        client = app.test_client()
        start.wait(timeout=30)
        response = _keyed(client, "double-click", choices={"marketing": True})
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(decide, range(8)))
    assert [status for status, _ in answers] == [201] * 8
    assert all(body == answers[0][1] for _, body in answers)
    assert _written(app) == (1, 1, 1)
    with app.app_context():
        assert verify_chain("demo").valid


def test_a_key_taken_in_the_same_batch_fails_only_its_record(app, client):
    post_decision(client)
    with app.app_context():
        site = app.extensions["sites"].get("demo")
        first = db.session.scalars(db.select(ConsentRecord)).one()

        def pending(record_id: str, key: str) -> chain._Pending:
            fields = {f: getattr(first, f) for f in NewRecord.__dataclass_fields__}
            record = NewRecord(**fields | {"record_id": record_id, "seq": None, "hash": None})
            return chain._Pending(
                site, record, chain.content_hash(record), key=RequestKey(key, "f" * 64)
            )

        # Arrived together: the second reuses the first's key, the third has its own.
        batch = [pending("a" * 32, "k"), pending("b" * 32, "k"), pending("c" * 32, "other")]
        chain._write_batch(batch, datetime.now(UTC))

        assert [p.error is None for p in batch] == [True, False, True]
        stored = db.session.scalars(db.select(ConsentRecord.record_id).order_by("seq")).all()
        assert stored == [first.record_id, "a" * 32, "c" * 32]
        keys = db.session.execute(db.select(IdempotencyKey.key, IdempotencyKey.record_id))
        assert sorted(keys) == [("k", "a" * 32), ("other", "c" * 32)]
        assert verify_chain("demo").valid


VALID_KEYS = [
    ("uuid", "8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
    ("quoted", '"8e03978e"', "8e03978e"),
    ("quoted with escapes", r'"a\"b\\c"', 'a"b\\c'),
    ("255 characters", "k" * 255, "k" * 255),
    ("quoted 255", '"' + "k" * 255 + '"', "k" * 255),
    ("punctuation", "a:b/c=d+e~f!", "a:b/c=d+e~f!"),
]


@pytest.mark.parametrize(
    ("header", "key"), [c[1:] for c in VALID_KEYS], ids=[c[0] for c in VALID_KEYS]
)
def test_keys_are_read_quoted_or_plain(app, client, header, key):
    assert _keyed(client, header).status_code == 201
    with app.app_context():
        assert db.session.scalars(db.select(IdempotencyKey.key)).all() == [key]


BAD_KEYS = [
    ("empty", ""),
    ("empty quoted", '""'),
    ("256 characters", "k" * 256),
    ("quoted 256", '"' + "k" * 256 + '"'),
    ("a space", "two words"),
    ("a space quoted", '"two words"'),
    ("unterminated", '"open'),
    ("quote inside", 'a"b'),
    ("bad escape", r'"a\nb"'),
    ("two keys", '"a", "b"'),
    ("not ASCII", "clé"),
    ("a control character", "a\x7fb"),
]


@pytest.mark.parametrize("header", [c[1] for c in BAD_KEYS], ids=[c[0] for c in BAD_KEYS])
def test_malformed_keys_are_refused_and_nothing_is_written(app, client, header):
    response = _keyed(client, header)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_idempotency_key"
    assert "Idempotency-Key" in error["message"]
    assert _written(app) == (0, 0, 0)


def test_browsers_may_send_the_key_cross_origin(client):
    preflight = client.options(
        "/api/v1/consents",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key",
        },
    )
    allowed = {
        h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"content-type", "idempotency-key"} <= allowed


def test_the_documented_key_format_is_the_one_the_server_reads(client):
    document = client.get("/api/v1/openapi.json").get_json()
    parameters = document["paths"]["/api/v1/consents"]["post"]["parameters"]
    [parameter] = [p for p in parameters if p["name"] == "Idempotency-Key"]
    assert parameter["in"] == "header"
    pattern = re.compile(parameter["schema"]["pattern"])
    assert all(pattern.match(header) for _, header, _ in VALID_KEYS)
    assert not any(pattern.match(header) for _, header in BAD_KEYS)
