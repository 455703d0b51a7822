"""Nothing acknowledged is lost and nothing is counted twice: outages, crashes, replays."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from events_support import (
    TESTS_DIR,
    chdb_url,
    closed_port_url,
    consent_row,
    counts,
    event_ids,
    get,
    gunicorn,
    kill_group,
    open_barrier,
    run_helper,
    subprocess_env,
)

from core import jsoncodec
from events import spool as spool_module
from events.shipper import Shipper
from events.spool import SpoolDir, SpoolWriter, State, adopt_one, load_state, spool_dirs


def test_clickhouse_down_events_wait_in_the_spool_and_ship_once_later(
    ev_pipelines, ev_url, tmp_path
):
    down = ev_pipelines(closed_port_url(), upgrade=False, SHIP_BATCH=100)
    for _ in range(500):
        down.emit("consent_events", consent_row())

    assert not down.flush(0.5)
    health = down.health()
    assert health["spool"]["backlog_events"] == 500
    assert health["spool"]["last_error"]
    assert health["clickhouse"]["ok"] is False
    assert health["clickhouse"]["error"]
    down.stop(timeout=0.2)

    up = ev_pipelines(ev_url, data_dir=tmp_path / "data")
    up.start()
    assert up.flush(20)
    assert counts(up.clickhouse) == (500, 500)
    assert up.health()["spool"]["backlog_events"] == 0
    assert spool_dirs(up.root) == []


def _spool_100_events_and_10_drops(pipeline):
    for i in range(100):
        pipeline.emit("consent_events", consent_row())
        if i % 10 == 0:
            pipeline.count_drop("invalid", "consent")


def _assert_one_copy(pipeline):
    assert counts(pipeline.clickhouse) == (100, 100)
    assert pipeline.clickhouse.query("SELECT sum(hits) FROM dropped_hits") == [(10,)]


def test_a_batch_whose_ack_fails_is_shipped_again_and_kept_once(ev_pipelines, ev_url, monkeypatch):
    pipeline = ev_pipelines(ev_url, SHIP_BATCH=40)
    _spool_100_events_and_10_drops(pipeline)
    tokens = []
    real_insert, real_ack = pipeline.clickhouse.insert_json, SpoolDir.ack

    def insert(table, lines, token):
        tokens.append(token)
        real_insert(table, lines, token)

    def ack_fails_once(directory, batch):
        monkeypatch.setattr(SpoolDir, "ack", real_ack)
        raise OSError("crash between the insert and the ack")

    pipeline.clickhouse.insert_json = insert
    monkeypatch.setattr(SpoolDir, "ack", ack_fails_once)
    assert pipeline.flush(20)

    assert len(tokens) > len(set(tokens)), "a batch was inserted twice"
    _assert_one_copy(pipeline)


def test_a_restart_from_an_old_state_file_keeps_one_copy(
    ev_pipelines, ev_url, tmp_path, monkeypatch
):
    pipeline = ev_pipelines(ev_url, SHIP_BATCH=40)
    _spool_100_events_and_10_drops(pipeline)
    [directory] = spool_dirs(pipeline.root)
    in_flight = []
    real_save = spool_module._save_state

    def save_state(path, state):
        real_save(path, state)
        if state.pending and not in_flight:
            in_flight.append((path / "state.json").read_bytes())

    monkeypatch.setattr(spool_module, "_save_state", save_state)
    assert pipeline.flush(20)
    shutil.copytree(directory, tmp_path / "copy")
    pipeline.stop(timeout=1)
    # As if the process died after shipping everything but before its acks reached the disk.
    shutil.copytree(tmp_path / "copy", directory)
    (directory / "state.json").write_bytes(in_flight[0])
    assert load_state(directory).pending is not None

    start, _ = load_state(directory).pending
    replayed = (directory / "0000000001.spool").read_bytes()[start:].count(b"\n")

    replay = ev_pipelines(ev_url, data_dir=tmp_path / "data", upgrade=False, SHIP_BATCH=40)
    assert replay.flush(20)

    assert replay.shipped_events == replayed > 0
    _assert_one_copy(replay)


class _TokenLog:
    """Wrap a store's insert_json to record each insert's token (and what it did)."""

    def __init__(self, store, fail_after_insert: int | None = None):
        self.tokens: list[str] = []
        self._insert = store.insert_json
        self._fail_after = fail_after_insert
        store.insert_json = self

    def __call__(self, table, lines, token):
        self.tokens.append(token)
        self._insert(table, lines, token)
        if len(self.tokens) == self._fail_after:
            raise ConnectionError("the process died after this insert, before its ack")


def _spool(writer, ids):
    for event_id in ids:
        row = jsoncodec.compact(consent_row(event_id=event_id, ts="2026-11-30 10:00:00.000000"))
        writer.append(b"consent_events\t%s\n" % row)


@pytest.mark.parametrize("new_batch", [7, 1000])
@pytest.mark.parametrize("dies", ["before the ack", "after the ack"])
def test_a_restart_with_another_batch_size_keeps_one_copy(
    ev_pipelines, ev_url, tmp_path, dies, new_batch
):
    store = ev_pipelines(ev_url).clickhouse
    writer = SpoolWriter(tmp_path / "data" / "spool")
    ids = [str(uuid.uuid4()) for _ in range(100)]
    log = _TokenLog(store, fail_after_insert=2 if dies == "before the ack" else None)
    shipper = Shipper(writer.path.parent, store, lambda: writer, batch_lines=40)
    _spool(writer, ids[:30])
    assert shipper.ship()  # a partial batch, lines 0-29
    if dies == "before the ack":
        _spool(writer, ids[30:])
        with pytest.raises(ConnectionError):
            shipper.ship()  # lines 30-69 are inserted, then the process dies
    else:
        _spool(writer, ids[30:70])
        assert shipper.ship()  # lines 30-69, acknowledged
        _spool(writer, ids[70:])
    writer.close()
    pending = load_state(writer.path).pending
    assert (pending is not None) == (dies == "before the ack")

    replay = ev_pipelines(ev_url, data_dir=tmp_path / "data", upgrade=False, SHIP_BATCH=new_batch)
    again = _TokenLog(replay.clickhouse)
    assert replay.flush(20)

    assert counts(replay.clickhouse) == (100, 100)
    assert sorted(event_ids(replay.clickhouse)) == sorted(ids)
    if pending:  # the batch in flight is sent again whole, under the same token
        assert again.tokens[0] == log.tokens[-1]
    assert not set(again.tokens[1 if pending else 0 :]) & set(log.tokens)


def test_split_retries_of_a_refused_batch_each_carry_their_own_token(ev_pipelines, ev_url):
    pipeline = ev_pipelines(ev_url, SHIP_BATCH=50)
    for i in range(40):
        pipeline.emit(
            "consent_events", consent_row(typo_field=1) if i in (5, 17) else consent_row()
        )
    log = _TokenLog(pipeline.clickhouse)
    [directory] = spool_dirs(pipeline.root)

    assert pipeline.flush(20)

    size = (directory / "0000000001.spool").stat().st_size
    t = f"{directory.name}/1/0-{size}/consent_events"
    # Halved until each refused row is alone; every half named after the path that led to it.
    assert log.tokens == [
        t,
        f"{t}/a",  # rows 0-19
        f"{t}/a/a",  # 0-9
        f"{t}/a/a/a",  # 0-4: stored
        f"{t}/a/a/b",  # 5-9
        f"{t}/a/a/b/a",  # 5-6
        f"{t}/a/a/b/a/a",  # 5: set aside
        f"{t}/a/a/b/a/b",  # 6: stored
        f"{t}/a/a/b/b",  # 7-9: stored
        f"{t}/a/b",  # 10-19
        f"{t}/a/b/a",  # 10-14: stored
        f"{t}/a/b/b",  # 15-19
        f"{t}/a/b/b/a",  # 15-16: stored
        f"{t}/a/b/b/b",  # 17-19
        f"{t}/a/b/b/b/a",  # 17: set aside
        f"{t}/a/b/b/b/b",  # 18-19: stored
        f"{t}/b",  # 20-39: stored
    ]
    assert counts(pipeline.clickhouse) == (38, 38)
    assert pipeline.health()["spool"]["rejected_events"] == 2


def test_stop_does_not_wait_past_its_deadline_for_a_stuck_insert(ev_pipelines, ev_url, tmp_path):
    pipeline = ev_pipelines(ev_url, SHIP_BATCH=100, SHIP_INTERVAL=60.0)
    real_insert = pipeline.clickhouse.insert_json
    stuck, release, finished = threading.Event(), threading.Event(), threading.Event()
    inserts = []

    def insert(table, lines, token):
        inserts.append(token)
        if len(inserts) == 4:  # ClickHouse stops answering mid-shipment
            stuck.set()
            release.wait(60)
            finished.set()
        real_insert(table, lines, token)

    pipeline.clickhouse.insert_json = insert
    for _ in range(2000):
        pipeline.emit("consent_events", consent_row())
    assert stuck.wait(30)
    shipper = pipeline._thread

    pipeline.stop(timeout=0.2)

    assert not finished.is_set(), "stop waited for the stuck insert"
    release.set()
    shipper.join(30)
    assert not shipper.is_alive()
    pipeline.stop(timeout=0)  # hands its directory over, shipping nothing more
    shipped = pipeline.shipped_events
    assert 0 < shipped < 2000
    rest = ev_pipelines(ev_url, data_dir=tmp_path / "data", upgrade=False)
    assert rest.health()["spool"]["backlog_events"] == 2000 - shipped
    assert rest.flush(20)
    assert counts(rest.clickhouse) == (2000, 2000)


def test_a_torn_trailing_line_of_a_dead_spool_is_skipped(ev_pipelines, ev_url, tmp_path, caplog):
    writer = SpoolWriter(tmp_path / "data" / "spool")
    for _ in range(10):
        row = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "ts": "2026-01-02 03:04:05.000000",
                "site": "torn.example",
            }
        )
        writer.append(f"consent_events\t{row}\n".encode())
    torn = b'consent_events\t{"event_id":"0b0e'
    with open(writer.path / "0000000001.spool", "ab") as f:
        f.write(torn)
    writer.close()

    pipeline = ev_pipelines(ev_url, data_dir=tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="events.spool"):
        assert pipeline.flush(20)

    assert pipeline.clickhouse.query(
        "SELECT count(), uniqExact(event_id) FROM consent_events WHERE site = {s:String}",
        {"s": "torn.example"},
    ) == [(10, 10)]
    assert f"skipping a torn line of {len(torn)} bytes" in caplog.text
    assert spool_dirs(pipeline.root) == []


def test_a_live_spool_is_never_adopted(ev_pipelines, ev_url, tmp_path):
    writer = SpoolWriter(tmp_path / "data" / "spool")
    writer.append(b'consent_events\t{"site":"live.example"}\n')
    pipeline = ev_pipelines(ev_url, data_dir=tmp_path / "data")
    assert pipeline.flush(5)
    assert counts(pipeline.clickhouse) == (0, 0)
    assert load_state(writer.path) == State(1)  # as it was made: nothing shipped
    writer.close()


@pytest.mark.slow
def test_sigkill_after_accepting_loses_nothing_and_duplicates_nothing(tmp_path):
    data_dir, url = tmp_path / "data", chdb_url(tmp_path / "ch", "srv")
    with gunicorn(data_dir, url, EV_UPGRADE="1", EV_SHIP_BATCH="50", EV_SHIP_INTERVAL="30") as srv:
        with ThreadPoolExecutor(8) as pool:
            accepted = list(pool.map(lambda _: get(srv.port, "/hit", "POST"), range(400)))
        kill_group(srv)

    assert len(set(accepted)) == 400
    restart = run_helper("restart", str(data_dir), url)
    assert restart["flushed"]
    assert sorted(restart["ids"]) == sorted(accepted)


@pytest.mark.slow
def test_sigterm_flushes_before_exit(tmp_path):
    data_dir, url = tmp_path / "data", chdb_url(tmp_path / "ch", "srv")
    with gunicorn(
        data_dir, url, EV_UPGRADE="1", EV_SHIP_BATCH="100000", EV_SHIP_INTERVAL="60"
    ) as srv:
        accepted = [get(srv.port, "/hit", "POST") for _ in range(50)]
        os.killpg(srv.pid, signal.SIGTERM)
        assert srv.wait(timeout=30) == 0

    assert sorted(run_helper("count", url)["ids"]) == sorted(accepted)
    assert spool_dirs(data_dir / "spool") == []


@pytest.mark.slow
def test_two_shippers_share_the_spools_of_dead_workers_exactly_once(tmp_path):
    data_dir = tmp_path / "data"
    with gunicorn(data_dir, closed_port_url(), workers=3) as srv:
        with ThreadPoolExecutor(12) as pool:
            accepted = list(pool.map(lambda _: get(srv.port, "/hit", "POST"), range(600)))
        kill_group(srv)
    assert len(spool_dirs(data_dir / "spool")) >= 2

    urls = [chdb_url(tmp_path / f"ch{i}", "ship") for i in range(2)]
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    shippers = [_ship_process(data_dir, url, barrier) for url in urls]
    open_barrier(barrier, parties=2)
    for proc in shippers:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()[-2000:]
    ids = [run_helper("count", url)["ids"] for url in urls]

    assert all(ids), "each shipper got work"
    assert sorted(ids[0] + ids[1]) == sorted(accepted)
    assert spool_dirs(data_dir / "spool") == []


def _ship_process(data_dir, url, barrier) -> subprocess.Popen:
    env = subprocess_env(
        EV_DATA_DIR=str(data_dir), EV_CLICKHOUSE_URL=url, EV_UPGRADE="1", EV_BARRIER=str(barrier)
    )
    cmd = [sys.executable, "-m", "flask", "--app", "events_support:create_server_app()"]
    return subprocess.Popen(
        [*cmd, "events", "ship", "--drain", "--timeout", "40"],
        env=env,
        cwd=TESTS_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _fds_into(directory) -> list[str]:
    """Name the open descriptors of this process that point into ``directory``."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:
            continue  # the descriptor listdir itself used
        if target.startswith(f"{directory}/"):
            names.append(target)
    return names


def _ship_in_uneven_batches_then_die(store, root) -> tuple[list[str], Path]:
    """Ship 80 of 100 events as a live shipper cuts batches (30, then 40 + 10), then die.

    A replay from the start of the segment cuts other batches, whose tokens ClickHouse
    has never seen.
    """
    ids = [str(uuid.uuid4()) for _ in range(100)]
    writer = SpoolWriter(root)
    shipper = Shipper(root, store, lambda: writer, batch_lines=40)
    _spool(writer, ids[:30])
    assert shipper.ship()
    _spool(writer, ids[30:80])
    assert shipper.ship()
    _spool(writer, ids[80:])
    writer.close()  # the process is gone: its directory can be adopted
    return ids, writer.path


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b'{"segment": 1, "offs',
        b'{"segment": "one", "offset": 0}',
        b'{"segment": 1, "offset": 99999999, "pending": null}',
        None,  # the file is gone
    ],
    ids=["empty", "torn", "wrong-type", "past-the-end", "missing"],
)
def test_a_damaged_state_file_replays_the_spool_once_and_says_so(
    ev_pipelines, ev_url, tmp_path, caplog, damage
):
    store = ev_pipelines(ev_url).clickhouse
    ids, directory = _ship_in_uneven_batches_then_die(store, tmp_path / "data" / "spool")
    if damage is None:
        (directory / "state.json").unlink()
    else:
        (directory / "state.json").write_bytes(damage)

    replay = ev_pipelines(ev_url, data_dir=tmp_path / "data", upgrade=False, SHIP_BATCH=25)
    [seen] = replay.health()["spool"]["damaged"]  # before any shipper touches it
    assert seen["spool"] == directory.name
    with caplog.at_level(logging.ERROR, logger="events"):
        assert replay.flush(20)

    assert counts(replay.clickhouse) == (100, 100)
    assert sorted(event_ids(replay.clickhouse)) == sorted(ids)
    assert spool_dirs(replay.root) == []
    [damaged] = replay.health()["spool"]["damaged"]
    assert damaged["spool"] == directory.name
    assert damaged["error"]
    assert f"spool {directory.name}" in caplog.text


def test_a_crash_during_a_damaged_replay_still_checks_what_it_replays(
    ev_pipelines, ev_url, tmp_path, monkeypatch
):
    store = ev_pipelines(ev_url).clickhouse
    ids, directory = _ship_in_uneven_batches_then_die(store, tmp_path / "data" / "spool")
    (directory / "state.json").write_bytes(b"")
    real_ack = SpoolDir.ack

    def ack_crashes_once(spool_dir, batch):
        monkeypatch.setattr(SpoolDir, "ack", real_ack)
        raise OSError("killed between the insert and the ack")

    monkeypatch.setattr(SpoolDir, "ack", ack_crashes_once)
    replay = ev_pipelines(ev_url, data_dir=tmp_path / "data", upgrade=False, SHIP_BATCH=25)
    assert not replay.flush(20, retry=False)
    replay.stop(timeout=0)
    assert load_state(directory).verify is not None

    again = ev_pipelines(ev_url, data_dir=tmp_path / "data", upgrade=False, SHIP_BATCH=25)
    assert again.flush(20)
    assert counts(again.clickhouse) == (100, 100)
    assert sorted(event_ids(again.clickhouse)) == sorted(ids)


def test_adopting_a_damaged_spool_leaks_no_descriptor_and_can_be_retried(tmp_path):
    root = tmp_path / "spool"
    writer = SpoolWriter(root)
    writer.append(b'consent_events\t{"site":"damaged.example"}\n')
    writer.close()
    (writer.path / "state.json").write_bytes(b"")
    before = len(os.listdir("/proc/self/fd"))

    for _ in range(2):  # not skipped after the first try
        adopted = adopt_one(root, set())
        assert adopted is not None
        assert adopted.name == writer.name
        adopted.release()

    assert _fds_into(writer.path) == []
    assert len(os.listdir("/proc/self/fd")) == before


def test_state_and_new_spool_directories_reach_the_disk_before_they_count(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", str(dst)))
        real_replace(src, dst)

    def rename(src, dst):
        calls.append(("rename", str(dst)))
        real_rename(src, dst)

    for name, spy in (("fsync", fsync), ("replace", replace), ("rename", rename)):
        monkeypatch.setattr(spool_module.os, name, spy)
    root = tmp_path / "spool"
    writer = SpoolWriter(root)
    made = calls[:]
    calls.clear()
    writer.append(b'consent_events\t{"site":"durable.example"}\n')
    segment = calls[:]
    calls.clear()
    directory = SpoolDir(writer.path, writer=writer)
    batch = directory.next_batch(10)
    directory.ack(batch)
    writer.close()

    path, state = str(writer.path), str(writer.path / "state.json")
    tmp = made[1][1].rsplit("/", 1)[0]  # the .tmp- directory it was made in
    # The new root's name, the first state, the renamed directory: each on disk in turn.
    assert made == [
        ("fsync", str(tmp_path)),
        ("fsync", f"{tmp}/.state.json.tmp"),
        ("replace", f"{tmp}/state.json"),
        ("fsync", tmp),
        ("rename", path),
        ("fsync", str(root)),
    ]
    assert segment == [("fsync", path)]  # the new segment's name
    # Each state write: the new file, then the rename over the old one, then the directory.
    assert calls == [("fsync", f"{path}/.state.json.tmp"), ("replace", state), ("fsync", path)] * 2
