"""Proof of consent: the hash chain shows edits, receipts verify, keys rotate."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import typing
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from events_support import chdb_url, free_port, subprocess_env
from factories import decision, post_decision
from itsdangerous import URLSafeSerializer
from sqlalchemy import delete, update

from consent import chain
from consent.chain import record_hash, verify_chain
from consent.models import ConsentRecord, NewRecord, SiteRow
from consent.sites import load_sites
from consentry import create_app
from core import jsoncodec
from core.db import db
from core.keys import ApiKey

OLD_KEY = "old-signing-key-0123456789abcdef"
NEW_KEY = "new-signing-key-0123456789abcdef"


def _decide(client, n: int) -> list[dict]:
    return [post_decision(client).get_json() for _ in range(n)]


def test_an_untouched_chain_verifies(app, client):
    _decide(client, 3)
    with app.app_context():
        report = verify_chain("demo")
    assert (report.valid, report.records, report.broken_at) == (True, 3, None)


@pytest.mark.parametrize(
    ("edit", "broken_at", "reason"),
    [
        ({"choices": {"necessary": True, "analytics": False}}, 2, "content"),
        ({"created_at_shift": True}, 2, "content"),
        ({"delete": True}, 2, "missing"),
        ({"rehash": True}, 3, "chain"),
    ],
)
def test_the_chain_detects_an_edited_record(app, client, edit, broken_at, reason):
    _decide(client, 3)
    with app.app_context():
        record = db.session.scalars(db.select(ConsentRecord).where(ConsentRecord.seq == 2)).one()
        if edit.get("delete"):
            db.session.delete(record)
        elif edit.get("created_at_shift"):
            record.created_at = record.created_at.replace(year=2020)
        elif edit.get("rehash"):
            # A careful forger edits the record and fixes its own hash: the next link breaks.
            record.action = "reject_all"
            record.hash = record_hash(record)
        else:
            db.session.execute(
                update(ConsentRecord).where(ConsentRecord.id == record.id).values(**edit)
            )
        db.session.commit()
        report = verify_chain("demo")
    assert report.valid is False
    assert report.broken_at == broken_at
    assert reason in report.reason


def test_records_committed_together_chain_in_order_and_fail_alone(app, client):
    _decide(client, 1)
    with app.app_context():
        site = app.extensions["sites"].get("demo")
        first = db.session.scalars(db.select(ConsentRecord)).one()

        def copy(record_id):
            fields = {f: getattr(first, f) for f in NewRecord.__dataclass_fields__}
            record = NewRecord(**fields | {"record_id": record_id, "seq": None, "hash": None})
            return chain._Pending(site, record, chain.content_hash(record))

        # Three records that arrived together; the middle one reuses a stored record id.
        batch = [copy("a" * 32), copy(first.record_id), copy("b" * 32)]
        chain._write_batch(batch, datetime.now(UTC))

        assert [p.done for p in batch] == [True, True, True]
        assert [p.error is None for p in batch] == [True, False, True]
        assert "UNIQUE" in str(batch[1].error).upper()
        assert [batch[0].record.seq, batch[2].record.seq] == [2, 3]
        assert batch[2].record.prev_hash == batch[0].record.hash
        report = verify_chain("demo")
        assert (report.valid, report.records) == (True, 3)


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": {"z": True, "y": None, "x": [3, "é"]}, "c": False},
        {"path": '/q?x="1"&y=\\z', "ua": "Ünïcødé 中文 🍪", "n": -12345678901234},
        {"ctl": "\n\t\r\b\f\x01\x1f\x7f", "sep": "\u2028\u2029", "empty": ""},
    ],
)
def test_the_canonical_form_is_the_json_modules(value):
    # Stored records were hashed over this form: it must never drift.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert jsoncodec.canonical(value) == expected.encode()


def test_removing_the_newest_record_is_detected(app, client):
    _decide(client, 2)
    with app.app_context():
        newest = db.session.scalars(db.select(ConsentRecord).where(ConsentRecord.seq == 2)).one()
        db.session.delete(newest)
        db.session.commit()
        assert verify_chain("demo").valid is False


def test_chain_endpoint_and_cli_report_tampering(app, client, runner):
    _decide(client, 2)
    key = runner.invoke(args=["keys", "create", "auditor"]).output.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/sites/demo/chain", headers=auth).get_json()["valid"] is True
    assert runner.invoke(args=["sites", "verify", "demo"]).exit_code == 0

    with app.app_context():
        db.session.execute(update(ConsentRecord).values(lifetime="session"))
        db.session.commit()
    report = client.get("/api/v1/sites/demo/chain", headers=auth).get_json()
    assert report == {
        "site": "demo",
        "valid": False,
        "records": 1,
        "broken_at": 1,
        "reason": "its content does not match its hash",
    }
    result = runner.invoke(args=["sites", "verify", "demo"])
    assert result.exit_code == 1
    assert "BROKEN at record 1" in result.output


def _verify(client, receipt: str) -> dict:
    response = client.post("/api/v1/receipts/verify", json={"receipt": receipt})
    assert response.status_code == 200
    return response.get_json()


def test_receipts_verify_and_tampered_ones_do_not(app, client):
    body = post_decision(client).get_json()
    check = _verify(client, body["receipt"])
    assert check["valid"] is True
    assert check["matches_record"] is True
    assert check["receipt"]["consent_id"] == body["consent_id"]
    assert check["receipt"]["choices"]["analytics"] is True

    payload, _, signature = body["receipt"].rpartition(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for forged in (f"{flipped}.{signature}", payload + ".", "garbage", body["receipt"][:-2]):
        assert _verify(client, forged) == {
            "valid": False,
            "matches_record": None,
            "mismatches": None,
            "receipt": None,
        }

    with app.app_context():
        db.session.execute(update(ConsentRecord).values(action="custom"))
        db.session.commit()
        record = db.session.scalars(db.select(ConsentRecord)).one()
        record.hash = record_hash(record)
        db.session.commit()
    assert _verify(client, body["receipt"])["matches_record"] is False


TWO_SITES = str(Path(__file__).parent / "data" / "two_sites.toml")
LATER = timedelta(seconds=1)
# (column edited in the database, its new value from the old one, what verify names)
RECORD_EDITS = [
    ("consent_id", lambda _: "f" * 32, ["consent_id", "stored hash"]),
    ("site_id", lambda _: "shop", ["site", "stored hash"]),
    ("action", lambda _: "withdraw", ["action", "stored hash"]),
    ("choices", lambda c: c | {"analytics": False}, ["choices", "stored hash"]),
    ("lifetime", lambda _: "session", ["lifetime", "stored hash"]),
    ("policy_version", lambda _: "2020-01-01", ["policy_version", "stored hash"]),
    ("created_at", lambda t: t + LATER, ["created_at", "stored hash"]),
    ("expires_at", lambda t: t + LATER, ["expires_at", "stored hash"]),
    ("expires_at", lambda _: None, ["expires_at", "stored hash"]),
    ("hash", lambda _: "0" * 64, ["hash", "stored hash"]),
    # Fields the receipt does not carry are still covered: the record's hash no longer fits.
    ("dnt", lambda d: not d, ["stored hash"]),
    ("texts_hash", lambda _: "e" * 64, ["stored hash"]),
    ("prev_hash", lambda _: "1" * 64, ["stored hash"]),
]


@pytest.mark.parametrize(
    ("column", "change", "named"),
    RECORD_EDITS,
    ids=[f"{column}-{i}" for i, (column, _, _) in enumerate(RECORD_EDITS)],
)
def test_a_receipt_names_what_differs_in_an_edited_record(make_app, column, change, named):
    app = make_app(SITES_FILE=TWO_SITES)
    client = app.test_client()
    post_decision(client, site="shop")
    post_decision(client)
    body = post_decision(client, choices={"analytics": True}, lifetime="persistent").get_json()
    before = _verify(client, body["receipt"])
    assert before["matches_record"] is True
    assert before["mismatches"] == []

    with app.app_context():
        record = chain_record(body["record_id"])
        value = change(getattr(record, column))
        db.session.execute(
            update(ConsentRecord).where(ConsentRecord.id == record.id).values({column: value})
        )
        db.session.commit()
    check = _verify(client, body["receipt"])
    assert (check["valid"], check["matches_record"]) == (True, False)
    assert check["mismatches"] == named


def test_a_receipt_whose_record_is_gone_does_not_match(app, client):
    body = post_decision(client).get_json()
    with app.app_context():
        db.session.execute(delete(ConsentRecord))
        db.session.commit()
    check = _verify(client, body["receipt"])
    assert (check["valid"], check["matches_record"]) == (True, False)
    assert check["mismatches"] == ["record_id"]


def chain_record(record_id: str) -> ConsentRecord:
    return db.session.scalars(
        db.select(ConsentRecord).where(ConsentRecord.record_id == record_id)
    ).one()


def test_compressed_receipts_of_earlier_releases_still_verify(app, client):
    body = post_decision(client).get_json()
    content = _verify(client, body["receipt"])["receipt"]
    # Earlier releases let itsdangerous zlib-compress receipts (a leading dot says so).
    signer = URLSafeSerializer(app.config["SECRET_KEYS"][0], salt="consentry.receipt")
    compressed = signer.dumps(content)
    assert compressed.startswith(".")
    assert not body["receipt"].startswith(".")
    assert _verify(client, compressed) == {
        "valid": True,
        "matches_record": True,
        "mismatches": [],
        "receipt": content,
    }


def test_receipts_with_offset_timestamps_still_match(app, client):
    body = post_decision(client).get_json()
    content = _verify(client, body["receipt"])["receipt"]
    # Earlier releases wrote times as isoformat() gives them: "+00:00", no "Z".
    old = content | {
        "created_at": datetime.fromisoformat(content["created_at"]).isoformat(),
        "expires_at": datetime.fromisoformat(content["expires_at"]).isoformat(),
    }
    assert old["created_at"].endswith("+00:00")
    signer = URLSafeSerializer(app.config["SECRET_KEYS"][0], salt="consentry.receipt")
    check = _verify(client, signer.dumps(old))
    assert (check["valid"], check["matches_record"], check["mismatches"]) == (True, True, [])
    # A signed receipt whose times are not times (no release wrote these) matches nothing.
    odd = content | {"created_at": "yesterday", "expires_at": 1767225600}
    assert _verify(client, signer.dumps(odd))["mismatches"] == ["created_at", "expires_at"]


def test_key_rotation_keeps_old_receipts_valid(make_app):
    old_app = make_app(SECRET_KEYS=[OLD_KEY])
    old_receipt = post_decision(old_app.test_client()).get_json()["receipt"]

    rotated = make_app(SECRET_KEYS=[NEW_KEY, OLD_KEY]).test_client()
    assert _verify(rotated, old_receipt)["valid"] is True
    new_receipt = post_decision(rotated).get_json()["receipt"]
    assert _verify(rotated, new_receipt)["valid"] is True

    # Signed with the new key: the old key alone cannot vouch for it...
    assert _verify(old_app.test_client(), new_receipt)["valid"] is False
    # ...and once the old key is retired, its receipts stop verifying.
    retired = make_app(SECRET_KEYS=[NEW_KEY]).test_client()
    assert _verify(retired, old_receipt)["valid"] is False
    assert _verify(retired, new_receipt)["valid"] is True


def test_api_keys_are_stored_hashed_and_checked(app, client, runner):
    result = runner.invoke(args=["keys", "create", "mailer"])
    assert result.exit_code == 0
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("csk_")
    with app.app_context():
        row = db.session.scalars(db.select(ApiKey)).one()
        assert key not in (row.digest, row.lookup)
        # csk_<lookup, hex>_<secret, URL-safe base64: may hold "_" itself>
        assert key[len("csk_") :].split("_", 1)[1] not in row.digest

    def status(header):
        return client.get("/api/v1/sites/demo/chain", headers=header).status_code

    assert status({"Authorization": f"Bearer {key}"}) == 200
    assert status({"Authorization": f"bearer {key}"}) == 200
    assert status({"Authorization": f"Bearer {key[:-1]}x"}) == 401
    assert status({"Authorization": f"Basic {key}"}) == 401
    assert status({"Authorization": "Bearer csk_000000000000_nope"}) == 401
    assert status({}) == 401

    duplicate = runner.invoke(args=["keys", "create", "mailer"])
    assert duplicate.exit_code != 0
    assert runner.invoke(args=["keys", "revoke", "mailer"]).exit_code == 0
    assert status({"Authorization": f"Bearer {key}"}) == 401
    listing = runner.invoke(args=["keys", "list"]).output
    assert "mailer" in listing
    assert "revoked" in listing
    assert runner.invoke(args=["keys", "revoke", "mailer"]).exit_code != 0


def test_db_upgrade_migrates_both_stores_and_syncs_sites(app, runner, tmp_path):
    renamed = tmp_path / "sites.toml"
    text = (Path(app.config["SITES_FILE"])).read_text()
    renamed.write_text(text.replace('name = "Consentry demo"', 'name = "Renamed demo"'))
    app.config["SITES_FILE"] = str(renamed)
    app.extensions["sites"] = load_sites(renamed)

    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "SQL: up to date; sites synced." in result.output
    assert "ClickHouse: up to date." in result.output
    with app.app_context():
        assert db.session.get(SiteRow, "demo").name == "Renamed demo"
        applied = app.extensions["events"].clickhouse.query(
            "SELECT name FROM schema_migrations ORDER BY version"
        )
    assert applied == [
        ("0001_consent_events",),
        ("0002_dropped_hits",),
        ("0003_email_events",),
        ("0004_consent_rollups",),
        ("0005_email_rollups",),
        ("0006_page_views_and_reclassified",),
        ("0007_email_age_rollup",),
        ("0008_email_daily_sealed",),
    ]


def test_sqlite_syncs_every_commit_to_disk(tmp_path):
    # synchronous=FULL: in WAL mode NORMAL may lose the last commits on a power cut, and a
    # decision answered 201 is a proof record that must survive one.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'proof.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_a_new_record_has_the_columns_of_a_stored_one():
    columns = [c for c in ConsentRecord.__table__.columns if c.key != "id"]
    assert [f.name for f in dataclasses.fields(NewRecord)] == [c.key for c in columns]
    hints = typing.get_type_hints(NewRecord)
    may_be_none = {name for name, hint in hints.items() if type(None) in typing.get_args(hint)}
    # The chain's own fields are empty until the chain takes the record, then always set.
    assert may_be_none - {"seq", "prev_hash", "hash"} == {c.key for c in columns if c.nullable}


# --- two processes, two sites, one PostgreSQL -------------------------------------------

PG_URL = os.environ.get("CONSENTRY_TEST_DATABASE_URL")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pg_schema_url():
    """A PostgreSQL schema of its own, as a database URL; dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield base + ("&" if "?" in base else "?") + quote(f"options=-csearch_path={schema}", safe="=&")
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@contextmanager
def _server(env: dict[str, str], log: Path):
    """Run the app under gunicorn (one worker, eight threads); its stderr goes to ``log``."""
    port = free_port()
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
            env=env | {"HOST": "127.0.0.1", "PORT": str(port)},
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _answers(port: int) -> bool:
    conn = HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _post(port: int, body: dict) -> int:
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST", "/api/v1/consents", json.dumps(body), {"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.skipif(
    PG_URL is None,
    reason="two processes committing at once need a server database: SQLite has one writer lock",
)
def test_two_processes_deciding_for_two_sites_never_deadlock(pg_schema_url, tmp_path):
    def environment(name: str) -> dict[str, str]:
        data = tmp_path / name
        return subprocess_env(
            CONSENTRY_DATA_DIR=str(data),
            CONSENTRY_DATABASE_URL=pg_schema_url,
            CONSENTRY_CLICKHOUSE_URL=chdb_url(data / "clickhouse", "consentry"),
            CONSENTRY_SITES_FILE=TWO_SITES,
            CONSENTRY_SECRET_KEYS="two-process-test-key-0123456789",
        )

    envs = [environment("a"), environment("b")]
    for env in envs:
        subprocess.run(
            [str(Path(sys.executable).parent / "consentry"), "db", "upgrade"],
            env=env, cwd=ROOT, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    bodies = [decision(site="demo"), decision(site="shop", choices={})]
    per_process = 600
    with _server(envs[0], logs[0]) as a, _server(envs[1], logs[1]) as b:
        # Each process gets both sites, interleaved, from many threads: its batches hold
        # both sites, in either order, while the other process commits its own.
        jobs = [((a, b)[i % 2], bodies[(i // 2) % 2]) for i in range(2 * per_process)]
        with ThreadPoolExecutor(max_workers=24) as pool:
            statuses = list(pool.map(lambda job: _post(*job), jobs))

    assert statuses == [201] * len(jobs)
    # A deadlock costs PostgreSQL's deadlock_timeout, then the batch is written record by
    # record, and the server says so.
    lines = [line for log in logs for line in log.read_text().splitlines()]
    assert [line for line in lines if "failed" in line or "deadlock" in line.lower()] == []
    app = create_app(
        {
            "DATABASE_URL": pg_schema_url,
            "DATA_DIR": str(tmp_path / "check"),
            "SITES_FILE": TWO_SITES,
            "SECRET_KEYS": ["two-process-test-key-0123456789"],
        }
    )
    with app.app_context():
        reports = [verify_chain("demo"), verify_chain("shop")]
        engine = db.engine
    engine.dispose()  # once the app context has given the session's connection back
    assert [(r.valid, r.records) for r in reports] == [(True, per_process), (True, per_process)]
