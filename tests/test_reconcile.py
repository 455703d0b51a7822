"""A committed decision always reaches ClickHouse, once: the reconciler sends lost events again.

The SQL record is the authority. A decision is committed, then its event is spooled; what
is lost in between (a killed process, a spool that filled up) the reconciler re-emits.
"""

import http.client
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from events_support import (
    SHOP_POLICY,
    chdb_url,
    closed_port_url,
    request_json,
    run_helper,
    service,
    subprocess_env,
    two_sites_file,
    wait_for,
)
from factories import POLICY, clickhouse_rows, decision, post_decision

from consent.models import ConsentRecord, EventMark, SiteRow
from consent.reconcile import Reconciler, event_id, resend
from core.config import ConfigError, load_config
from core.db import db
from events import SpoolFull


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _SpoolFullOnce:
    """The app's pipeline, except that the first decision event finds the spool full.

    As when the spool reaches its budget between a request's room check and its write.
    """

    def __init__(self, pipeline):
        self._pipeline = pipeline
        self.refused: list[str] = []
        self.emitted: list[str] = []

    def __getattr__(self, name):
        return getattr(self._pipeline, name)

    def emit(self, table, row):
        if not self.refused:
            self.refused.append(row["event_id"])
            raise SpoolFull()
        self._pipeline.emit(table, row)
        self.emitted.append(row["event_id"])


class _Blind:
    """A sink that finds every event missing, as when it is in another server's spool."""

    def __init__(self, sink):
        self._sink = sink

    def __getattr__(self, name):
        return getattr(self._sink, name)

    def missing_events(self, table, event_ids, since=None):
        return {str(uuid.UUID(i)) for i in event_ids}


def _decisions(client, count: int) -> list[dict]:
    answers = []
    for i in range(count):
        body = {"site": "shop", "policy_version": SHOP_POLICY} if i % 2 else {}
        response = post_decision(client, **body)
        assert response.status_code == 201, response.get_json()
        answers.append(response.get_json())
    return answers


def _decision_ids(app) -> list[str]:
    rows = clickhouse_rows(app, "SELECT event_id FROM consent_events WHERE kind = 'decision'")
    return sorted(uuid.UUID(str(e)).hex for (e,) in rows)


def _marks_and_heads(app) -> dict[str, tuple[int, int]]:
    with app.app_context():
        heads = {s: n for s, n in db.session.execute(db.select(SiteRow.id, SiteRow.chain_seq))}
        query = db.select(EventMark.site_id, EventMark.reconciled_seq)
        marks = {s: n for s, n in db.session.execute(query)}
    return {site: (marks.get(site, 0), head) for site, head in heads.items()}


def _settled_run(app, reconciler: Reconciler, clock: _Clock) -> None:
    """Run the reconciler twice, the grace period apart, so every record is settled."""
    with app.app_context():
        reconciler.run()
        clock.now += reconciler.grace + 1
        reconciler.run()


def test_a_decision_the_spool_refuses_after_its_commit_is_answered_and_shipped_later(
    make_app, tmp_path, caplog
):
    app = make_app(SITES_FILE=str(two_sites_file(tmp_path)))
    pipeline = app.extensions["events"]
    sink = app.extensions["events"] = _SpoolFullOnce(pipeline)
    client = app.test_client()

    # The migrations' logging set-up took the root logger's handlers: listen on this one.
    records_log = logging.getLogger("consent.records")
    records_log.addHandler(caplog.handler)
    try:
        answers = _decisions(client, 5)  # the first one's event is refused after its commit
    finally:
        records_log.removeHandler(caplog.handler)

    records = sorted(a["record_id"] for a in answers)
    assert sink.refused == [event_id(answers[0]["record_id"])]
    assert "is stored but its event could not be spooled" in caplog.text
    clock = _Clock()
    reconciler = Reconciler(sink, grace=60, clock=clock)
    with app.app_context():
        assert reconciler.run() == 60  # nothing is settled at the first reading
    assert sink.emitted == [event_id(a["record_id"]) for a in answers[1:]]
    clock.now += 61
    with app.app_context():
        assert reconciler.run() is None
    assert sink.emitted[-1] == sink.refused[0]
    assert _decision_ids(app) == records
    drops = clickhouse_rows(app, "SELECT source, reason, sum(hits) FROM dropped_hits GROUP BY 1, 2")
    assert drops == [("consent", "spool_full", 1)]
    assert _marks_and_heads(app) == {"demo": (3, 3), "shop": (2, 2)}

    with app.app_context():  # later runs find nothing more to send
        clock.now += 61
        reconciler.run()
    assert _decision_ids(app) == records


def test_events_waiting_in_a_spool_are_not_sent_again(make_app, tmp_path):
    sites = str(two_sites_file(tmp_path))
    make_app(SITES_FILE=sites)  # this test's ClickHouse database and schema
    down = make_app(
        DATA_DIR=str(tmp_path / "svc"), CLICKHOUSE_URL=closed_port_url(), SITES_FILE=sites
    )
    answers = _decisions(down.test_client(), 6)
    down.extensions["events"].stop(timeout=0.2)

    up = make_app(DATA_DIR=str(tmp_path / "svc"), SITES_FILE=sites)
    sink = _SpoolFullOnce(up.extensions["events"])
    sink.refused.append("none")  # nothing is refused here
    clock = _Clock()
    _settled_run(up, Reconciler(sink, grace=60, clock=clock), clock)

    assert sink.emitted == []  # every event waits in the dead server's spool
    assert _decision_ids(up) == sorted(a["record_id"] for a in answers)
    assert _marks_and_heads(up) == {"demo": (3, 3), "shop": (3, 3)}


def test_a_second_reconciler_sends_nothing_the_first_one_sent(make_app, tmp_path):
    app = make_app(SITES_FILE=str(two_sites_file(tmp_path)))
    sink = app.extensions["events"] = _SpoolFullOnce(app.extensions["events"])
    answers = _decisions(app.test_client(), 4)
    lost = answers[0]["record_id"]
    since = datetime(2026, 1, 1, tzinfo=UTC)

    with app.app_context():
        # Two reconcilers read mark 0 and found the same event missing; the first sends it.
        assert resend(sink, "demo", 0, 2, [lost], since) == 2
        # The second waited for the mark's lock: the mark has moved, it sends nothing, even
        # when it cannot see the event (in another server's spool).
        assert resend(_Blind(sink), "demo", 0, 2, [lost], since) == 2
        # One that died after sending but before moving the mark: the event is spooled.
        db.session.execute(db.update(EventMark).values(reconciled_seq=0))
        db.session.commit()
        assert resend(sink, "demo", 0, 2, [lost], since) == 2

    assert sink.emitted.count(event_id(lost)) == 1
    assert _decision_ids(app) == sorted(a["record_id"] for a in answers)


@pytest.mark.parametrize("key", ["RECONCILE_INTERVAL", "RECONCILE_GRACE_SECONDS"])
@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon", "1e9"])
def test_reconcile_settings_must_be_positive_finite_seconds(tmp_path, monkeypatch, key, value):
    from flask import Flask

    monkeypatch.setenv(f"CONSENTRY_{key}", value)
    with pytest.raises(ConfigError, match=f"CONSENTRY_{key}"):
        load_config(Flask(__name__), {"DATA_DIR": str(tmp_path)})


def _records(data_dir) -> list[str]:
    with sqlite3.connect(data_dir / "consentry.db") as conn:
        return sorted(r for (r,) in conn.execute("SELECT record_id FROM consent_records"))


def _reconciled(data_dir) -> bool:
    with sqlite3.connect(data_dir / "consentry.db") as conn:
        rows = conn.execute(
            "SELECT s.chain_seq, m.reconciled_seq FROM sites s"
            " LEFT JOIN event_marks m ON m.site_id = s.id WHERE s.chain_seq > 0"
        ).fetchall()
    return bool(rows) and all(head == mark for head, mark in rows)


def _burst(port: int, count: int) -> list[int | None]:
    """Send decisions for both sites from 8 threads; None for those a dying server dropped."""

    def send(i: int) -> int | None:
        body = decision(policy_version=POLICY)
        if i % 2:
            body = decision(site="shop", policy_version=SHOP_POLICY)
        try:
            return request_json(port, "POST", "/api/v1/consents", body)[0]
        except (OSError, http.client.HTTPException):
            return None

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, range(count)))


@pytest.mark.slow
def test_a_server_killed_between_commit_and_spool_write_ships_every_record_once(tmp_path):
    data_dir, url = tmp_path / "data", chdb_url(tmp_path / "ch", "consentry")
    sites = str(two_sites_file(tmp_path))
    # The 15th decision past its commit kills the worker before its event is spooled;
    # gunicorn starts another, armed the same way. Nothing is reconciled in this run.
    with service(
        data_dir,
        url,
        CONSENTRY_SITES_FILE=sites,
        CONSENTRY_FAULT="after_commit:15",
        CONSENTRY_RECONCILE_GRACE_SECONDS="3600",
    ) as server:
        statuses = _burst(server.port, 60)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    records = _records(data_dir)
    assert None in statuses, "the fault point never fired"
    assert statuses.count(201) <= len(records) <= len(statuses)

    # A normal start: the shipper ships the spools, the reconciler sends what is missing.
    with service(
        data_dir,
        url,
        CONSENTRY_SITES_FILE=sites,
        CONSENTRY_RECONCILE_INTERVAL="0.5",
        CONSENTRY_RECONCILE_GRACE_SECONDS="0.5",
    ) as server:
        wait_for(lambda: _reconciled(data_dir), 60, "the reconciler did not reach every record")
        backlog = lambda: request_json(server.port, "GET", "/healthz")[1]["spool"]["backlog_events"]  # noqa: E731
        wait_for(lambda: backlog() == 0, 60, "the spool was not shipped", pause=0.1)
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=60) == 0

    shipped = [uuid.UUID(i).hex for i in run_helper("count", url)["ids"]]
    assert len(shipped) == len(set(shipped)) == len(records)
    assert sorted(shipped) == records


@pytest.mark.parametrize(("armed", "printed"), [("after_commit:3", 2), ("elsewhere", 5), ("", 5)])
def test_a_crash_point_kills_the_process_at_its_armed_pass_only(armed, printed):
    code = (
        "from core import faults\n"
        "for i in range(5):\n"
        "    faults.crash_point('after_commit')\n"
        "    print(i, flush=True)\n"
    )
    env = subprocess_env(CONSENTRY_FAULT=armed)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert done.stdout.split() == [str(i).encode() for i in range(printed)]
    assert done.returncode == (-signal.SIGKILL if printed < 5 else 0)


def test_a_record_older_than_clickhouse_keeps_events_is_not_sent_again(make_app, tmp_path):
    app = make_app(SITES_FILE=str(two_sites_file(tmp_path)))
    sink = app.extensions["events"] = _SpoolFullOnce(app.extensions["events"])
    answers = _decisions(app.test_client(), 3)
    lost = answers[0]["record_id"]
    with app.app_context():
        # Its event would be past consent_events' 400-day TTL: gone by design, not lost.
        db.session.execute(
            db.update(ConsentRecord)
            .where(ConsentRecord.record_id == lost)
            .values(created_at=datetime.now(UTC) - timedelta(days=500))
        )
        db.session.commit()
    clock = _Clock()
    _settled_run(app, Reconciler(sink, grace=60, clock=clock), clock)

    assert event_id(lost) not in sink.emitted
    assert _marks_and_heads(app) == {"demo": (2, 2), "shop": (1, 1)}
