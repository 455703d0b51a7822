"""The event pipeline on the real chdb engine: emit, ship, budget, drops, schema, CLI."""

import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from events_support import consent_row, counts, event_ids, wait_for

from core import jsoncodec
from events import SchemaError, SpoolFull
from events import spool as spool_module
from events.clickhouse import split_database
from events.schema import load_migrations
from events.spool import SpoolDir, SpoolWriter, segment_seqs, spool_dirs


def test_emit_fills_in_event_id_and_ts_and_ships_once(ev_pipelines, ev_url):
    pipeline = ev_pipelines(ev_url)
    for i in range(250):
        pipeline.emit("consent_events", consent_row(f"site{i % 3}.example"))
    pipeline.emit("consent_events", consent_row(event_id="6f1c2b1e-2b2a-4c52-9d55-0c2d9f0f8a11"))

    assert pipeline.flush(10)

    assert counts(pipeline.clickhouse) == (251, 251)
    assert "6f1c2b1e-2b2a-4c52-9d55-0c2d9f0f8a11" in event_ids(pipeline.clickhouse)
    [(sites, oldest)] = pipeline.clickhouse.query(
        "SELECT uniqExact(site), dateDiff('second', min(ts), now64(3)) FROM consent_events"
    )
    assert sites == 4
    assert 0 <= oldest < 60


def test_emit_does_not_change_the_callers_row(ev_pipelines, ev_url):
    pipeline = ev_pipelines(ev_url)
    row = consent_row()
    pipeline.emit("consent_events", row)
    assert "event_id" not in row
    assert "ts" not in row


@pytest.mark.parametrize("table", ["Consent", "consent-events", "1events", "a;drop", ""])
def test_emit_refuses_a_bad_table_name(ev_pipelines, ev_url, table):
    pipeline = ev_pipelines(ev_url, upgrade=False)
    with pytest.raises(ValueError, match="table name"):
        pipeline.emit(table, {"site": "x"})


def test_shipper_ships_in_batches_on_size_without_waiting_for_the_interval(ev_pipelines, ev_url):
    pipeline = ev_pipelines(ev_url, SHIP_INTERVAL=60.0, SHIP_BATCH=100)
    pipeline.start()
    for _ in range(300):
        pipeline.emit("consent_events", consent_row())
    rows = 0
    for _ in range(100):
        rows = counts(pipeline.clickhouse)[0]
        if rows == 300:
            break
        time.sleep(0.05)
    assert rows == 300


def test_rotated_segments_are_deleted_once_shipped(ev_pipelines, ev_url, monkeypatch):
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 4096)
    monkeypatch.setattr(spool_module, "ROTATE_SHIPPED_BYTES", 1024)
    pipeline = ev_pipelines(ev_url, SHIP_BATCH=7)
    for _ in range(120):
        pipeline.emit("consent_events", consent_row())
    [directory] = spool_dirs(pipeline.root)
    assert len(segment_seqs(directory)) > 5

    assert pipeline.flush(10)

    assert counts(pipeline.clickhouse) == (120, 120)
    # Only the fresh active segment is left: every shipped one was deleted.
    assert len(segment_seqs(directory)) == 1
    assert pipeline.health()["spool"]["backlog_events"] == 0


def test_spool_over_budget_refuses_events_and_keeps_drops_in_memory(ev_pipelines, ev_url):
    pipeline = ev_pipelines(ev_url, SPOOL_MAX_BYTES=8000)
    real_insert = pipeline.clickhouse.insert_json
    pipeline.clickhouse.insert_json = _failing_insert
    accepted = 0
    while pipeline.has_room():
        pipeline.emit("consent_events", consent_row())
        accepted += 1
    with pytest.raises(SpoolFull):
        pipeline.emit("consent_events", consent_row())
    assert 10 < accepted < 30
    assert not pipeline.has_room()
    for _ in range(3):
        pipeline.count_drop("spool_full", "consent")

    pipeline.clickhouse.insert_json = real_insert
    assert pipeline.flush(10)

    assert pipeline.has_room()
    assert counts(pipeline.clickhouse) == (accepted, accepted)
    assert pipeline.flush(10)  # the in-memory drops are spooled once there is room
    rows = pipeline.clickhouse.query(
        "SELECT source, reason, sum(hits) FROM dropped_hits GROUP BY source, reason"
    )
    assert rows == [("consent", "spool_full", 3)]


def _failing_insert(table, lines, token):
    raise ConnectionError("ClickHouse is down")


@pytest.mark.parametrize(
    ("drops", "expected"),
    [
        ([("invalid", "consent")], [("consent", "invalid", 1)]),
        (
            [("opted_out", "pixel"), ("head", "pixel"), ("opted_out", "pixel")],
            [("pixel", "head", 1), ("pixel", "opted_out", 2)],
        ),
    ],
)
def test_count_drop_lands_in_dropped_hits(ev_pipelines, ev_url, drops, expected):
    pipeline = ev_pipelines(ev_url)
    for reason, source in drops:
        pipeline.count_drop(reason, source)
    assert pipeline.flush(10)
    rows = pipeline.clickhouse.query(
        "SELECT source, reason, sum(hits) FROM dropped_hits GROUP BY source, reason ORDER BY reason"
    )
    assert rows == expected


def test_rows_clickhouse_refuses_are_set_aside_and_the_rest_ships(ev_pipelines, ev_url, caplog):
    pipeline = ev_pipelines(ev_url, SHIP_BATCH=50)
    for i in range(40):
        row = consent_row(typo_field=1) if i == 17 else consent_row()
        pipeline.emit("consent_events", row)
    pipeline.emit("consent_events", consent_row(dnt="not a number"))

    with caplog.at_level(logging.ERROR, logger="events.shipper"):
        assert pipeline.flush(20)

    assert counts(pipeline.clickhouse) == (39, 39)
    health = pipeline.health()
    assert health["spool"]["rejected_events"] == 2
    assert health["spool"]["backlog_events"] == 0
    rejected = (pipeline.root / ".rejected").iterdir()
    lines = [line for path in rejected for line in path.read_bytes().splitlines()]
    assert len(lines) == 2
    assert all(line.startswith(b"consent_events\t{") for line in lines)
    assert "refused" in caplog.text


def test_schema_upgrade_is_idempotent(ev_pipelines, ev_url):
    pipeline = ev_pipelines(ev_url, upgrade=False)
    assert pipeline.upgrade_schema() == [
        "0001_consent_events",
        "0002_dropped_hits",
        "0003_email_events",
        "0004_consent_rollups",
        "0005_email_rollups",
        "0006_page_views_and_reclassified",
        "0007_email_age_rollup",
        "0008_email_daily_sealed",
    ]
    assert pipeline.upgrade_schema() == []
    rows = pipeline.clickhouse.query(
        "SELECT version, name, length(checksum) FROM schema_migrations ORDER BY version"
    )
    assert rows == [
        (1, "0001_consent_events", 64),
        (2, "0002_dropped_hits", 64),
        (3, "0003_email_events", 64),
        (4, "0004_consent_rollups", 64),
        (5, "0005_email_rollups", 64),
        (6, "0006_page_views_and_reclassified", 64),
        (7, "0007_email_age_rollup", 64),
        (8, "0008_email_daily_sealed", 64),
    ]


def test_schema_upgrade_refuses_an_edited_applied_migration(ev_pipelines, ev_url, tmp_path):
    schema_dir = tmp_path / "schema"
    shutil.copytree(ev_pipelines(ev_url, upgrade=False).schema_dir, schema_dir)
    pipeline = ev_pipelines(ev_url, upgrade=False)
    pipeline.schema_dir = schema_dir
    pipeline.upgrade_schema()
    edited = schema_dir / "0002_dropped_hits.sql"
    edited.write_text(edited.read_text() + "\n-- edited\n")

    with pytest.raises(SchemaError, match=r"0002_dropped_hits\.sql changed after it was applied"):
        pipeline.upgrade_schema()


def test_schema_upgrade_applies_new_multi_statement_files_in_order(ev_pipelines, ev_url, tmp_path):
    schema_dir = tmp_path / "schema"
    schema_dir.mkdir()
    (schema_dir / "0001_a.sql").write_text(
        "-- two statements; the ';' inside the string is not a separator\n"
        "CREATE TABLE a (x String DEFAULT 'a;b') ENGINE = MergeTree ORDER BY x;\n"
        "INSERT INTO a (x) VALUES ('one');\n"
    )
    pipeline = ev_pipelines(ev_url, upgrade=False)
    pipeline.schema_dir = schema_dir
    assert pipeline.upgrade_schema() == ["0001_a"]
    (schema_dir / "0002_b.sql").write_text("INSERT INTO a (x) SELECT 'two'\n")
    assert pipeline.upgrade_schema() == ["0002_b"]
    assert pipeline.clickhouse.query("SELECT x FROM a ORDER BY x") == [("one",), ("two",)]


@pytest.mark.parametrize("name", ["1_a.sql", "0001-a.sql", "0001_A.sql"])
def test_schema_files_must_be_numbered(tmp_path, name):
    (tmp_path / name).write_text("SELECT 1")
    with pytest.raises(SchemaError, match=r"NNNN_name\.sql"):
        load_migrations(tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("chdb:///srv/ch?database=ev", ("chdb:///srv/ch", "ev")),
        ("chdb:///srv/ch", ("chdb:///srv/ch", "default")),
        ("http://u:p@ch:8123/consentry", ("http://u:p@ch:8123", "consentry")),
        ("https://ch.example:8443", ("https://ch.example:8443", "default")),
    ],
)
def test_split_database(url, expected):
    assert split_database(url) == expected


def test_health_does_not_open_embedded_clickhouse_in_a_process_that_does_not_ship(
    ev_pipelines, ev_url
):
    pipeline = ev_pipelines(ev_url, upgrade=False)
    health = pipeline.health()
    assert health["clickhouse"]["ok"] is False
    assert "only in the process that ships" in health["clickhouse"]["error"]
    assert not pipeline.clickhouse.is_open


def test_health_reports_ok_and_backlog_once_started(ev_pipelines, ev_url):
    pipeline = ev_pipelines(ev_url)
    pipeline.emit("consent_events", consent_row())
    assert pipeline.flush(10)
    health = pipeline.health()
    assert health["clickhouse"] == {"ok": True, "error": None}
    assert health["spool"]["backlog_events"] == 0
    assert health["spool"]["spools"] == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", health["spool"]["last_shipped_at"]
    )
    assert health["spool"]["damaged"] == []
    assert health["spool"]["last_error"] is None


def test_cli_status_and_ship(ev_pipelines, ev_url, tmp_path):
    data_dir = tmp_path / "data"
    writer = SpoolWriter(data_dir / "spool")
    now = datetime.now(UTC).isoformat()
    for _ in range(5):
        row = json.dumps({"event_id": str(uuid.uuid4()), "ts": now, "site": "cli.example"})
        writer.append(f"consent_events\t{row}\n".encode())
    writer.close()
    pipeline = ev_pipelines(ev_url, data_dir=data_dir)
    runner = pipeline.app.test_cli_runner()

    status = runner.invoke(args=["events", "status"])
    assert status.exit_code == 0, status.output
    assert re.search(rf"{writer.name}\t5 events\t\d+ bytes", status.output)
    assert "total\t5 events" in status.output

    shipped = runner.invoke(args=["events", "ship", "--drain", "--timeout", "20"])
    assert shipped.exit_code == 0, shipped.output
    assert "shipped 5 events; left 0 events (0 bytes) in 0 spools" in shipped.output
    assert counts(pipeline.clickhouse) == (5, 5)
    assert os.listdir(data_dir / "spool") == []


def test_stale_half_created_spool_directories_are_swept(ev_pipelines, ev_url, tmp_path):
    spool = tmp_path / "data" / "spool"
    stale, fresh = spool / ".tmp-stale", spool / ".tmp-fresh"
    for path in (stale, fresh):
        path.mkdir(parents=True)
        (path / "lock").touch()
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    pipeline = ev_pipelines(ev_url, data_dir=tmp_path / "data")

    assert pipeline.flush(5)

    assert sorted(os.listdir(spool)) == [".tmp-fresh"]


def _line(event_id: str, table: str = "consent_events") -> bytes:
    row = consent_row(event_id=event_id, ts="2026-11-30 10:00:00.000000")
    return b"%s\t%s\n" % (table.encode(), jsoncodec.compact(row))


def test_missing_events_are_those_in_neither_clickhouse_nor_any_spool(
    ev_pipelines, ev_url, tmp_path
):
    root = tmp_path / "data" / "spool"
    names = "in_clickhouse live dead in_flight rejected damaged acked other_table nowhere"
    ids = {name: str(uuid.uuid4()) for name in names.split()}
    live = SpoolWriter(root)  # a running process's spool, locked
    live.append(_line(ids["live"]))
    for name in ("dead", "damaged", "in_flight", "acked"):
        writer = SpoolWriter(root)
        writer.append(_line(ids[name]))
        writer.append(_line(ids["other_table"], table="dropped_hits"))
        writer.close()
        directory = SpoolDir(writer.path)
        if name == "damaged":
            (writer.path / "state.json").write_bytes(b"{")
        elif name == "in_flight":
            directory.next_batch(10)  # sent, perhaps, but not acknowledged
        elif name == "acked":
            directory.ack(directory.next_batch(10))  # shipped: ClickHouse should have it
    spool_module.reject_lines(root, "gone", [_line(ids["rejected"])[:-1]])
    pipeline = ev_pipelines(ev_url, data_dir=tmp_path / "data")
    pipeline.clickhouse.insert_json(
        "consent_events", _line(ids["in_clickhouse"]).split(b"\t", 1)[1], "test/1"
    )

    missing = pipeline.missing_events("consent_events", [i.replace("-", "") for i in ids.values()])

    assert missing == {ids["acked"], ids["other_table"], ids["nowhere"]}
    assert pipeline.missing_events("consent_events", []) == set()
    with pytest.raises(ValueError, match="not an event id"):
        pipeline.missing_events("consent_events", ["12345"])
    live.close()


def test_periodic_tasks_run_in_the_shipper_after_its_first_round_and_never_stop_it(
    ev_pipelines, ev_url, tmp_path
):
    writer = SpoolWriter(tmp_path / "data" / "spool")  # left by a dead process
    writer.append(_line(str(uuid.uuid4())))
    writer.close()
    pipeline = ev_pipelines(ev_url, data_dir=tmp_path / "data")
    runs = []

    def again_soon():
        runs.append((threading.current_thread().name, pipeline.backlog().events))
        return 0.0  # sooner than its interval: after the next round

    def broken():
        raise RuntimeError("ClickHouse said no")

    pipeline.add_periodic("again_soon", again_soon, interval=3600)
    pipeline.add_periodic("broken", broken, interval=3600)
    with pytest.raises(ValueError, match="positive"):
        pipeline.add_periodic("never", again_soon, interval=0)
    pipeline.start()

    wait_for(lambda: len(runs) >= 3, 10, "the task did not run again sooner")
    # In the shipper, after the first round shipped what a dead process had left.
    assert runs[0] == ("events-shipper", 0)
    tasks = pipeline.health()["tasks"]
    assert tasks["again_soon"]["last_error"] is None
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", tasks["again_soon"]["last_ok_at"]
    )
    assert tasks["broken"] == {"last_ok_at": None, "last_error": "RuntimeError: ClickHouse said no"}
    pipeline.emit("consent_events", consent_row())
    assert pipeline.flush(10)  # the failing task stopped nothing
    assert counts(pipeline.clickhouse) == (2, 2)


def test_an_event_shipped_while_missing_events_looks_is_not_missing(ev_pipelines, ev_url, tmp_path):
    event_id = str(uuid.uuid4())
    writer = SpoolWriter(tmp_path / "data" / "spool")
    writer.append(_line(event_id))
    writer.close()
    pipeline = ev_pipelines(ev_url, data_dir=tmp_path / "data")
    real_query = pipeline.clickhouse.query

    def query_then_ship(sql, parameters=None):
        rows = real_query(sql, parameters)
        if pipeline.clickhouse.query is query_then_ship:
            # Right after ClickHouse said "not here", a shipper inserts and acknowledges it.
            pipeline.clickhouse.query = real_query
            directory = SpoolDir(writer.path)
            batch = directory.next_batch(10)
            pipeline.clickhouse.insert_json("consent_events", batch.data.split(b"\t", 1)[1], "x")
            directory.ack(batch)
        return rows

    pipeline.clickhouse.query = query_then_ship

    assert pipeline.missing_events("consent_events", [event_id]) == set()


def test_a_table_hook_runs_after_the_insert_and_before_the_ack(ev_pipelines, ev_url):
    # A hook that fails once: the batch stays in flight, is shipped again under the same
    # token (no duplicate row), and the hook runs again with the same rows.
    pipeline = ev_pipelines(ev_url, SHIP_BATCH=1000)
    seen = []

    def hook(rows):
        stored = set(event_ids(pipeline.clickhouse))
        seen.append(([r["event_id"] for r in rows], stored, pipeline.backlog().events))
        if len(seen) == 1:
            raise RuntimeError("ClickHouse went away mid-recount")

    pipeline.after_shipping("consent_events", hook)
    with pytest.raises(ValueError, match="table name"):
        pipeline.after_shipping("consent events", hook)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for event_id in ids:
        pipeline.emit("consent_events", consent_row(event_id=event_id))
    pipeline.count_drop("invalid", "email_open")  # another table: not this hook's rows

    assert not pipeline.flush(0.5, retry=False)
    assert pipeline.health()["spool"]["last_error"] == (
        "RuntimeError: ClickHouse went away mid-recount"
    )
    assert pipeline.flush(10)
    assert [rows for rows, _, _ in seen] == [ids, ids]
    for _, stored, backlog in seen:
        assert set(ids) <= stored  # the rows were in ClickHouse when the hook ran
        assert backlog == 4  # and the batch was not acknowledged yet
    assert counts(pipeline.clickhouse) == (3, 3)
    assert pipeline.backlog().events == 0
