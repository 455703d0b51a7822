"""The whole service under failure: decisions made through the API reach ClickHouse once.

These run the real application (``wsgi:app`` under ``gunicorn.conf.py``, as ``make run``
does), not a stand-in, so the gunicorn hooks that start and stop the shipper are covered.
"""

import os
import signal
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from events_support import (
    chdb_url,
    closed_port_url,
    request_json,
    run_helper,
    service,
)
from factories import POLICY, clickhouse_rows, decision

from consent.models import ConsentRecord
from core.db import db


def test_decisions_made_while_clickhouse_is_down_ship_once_after_a_restart(make_app, tmp_path):
    make_app()  # creates this test's ClickHouse database and schema
    down = make_app(DATA_DIR=str(tmp_path / "svc"), CLICKHOUSE_URL=closed_port_url())
    client = down.test_client()
    bodies = [client.post("/api/v1/consents", json=decision()).get_json() for _ in range(60)]
    assert all("record_id" in b for b in bodies)
    health = client.get("/healthz").get_json()
    assert health["status"] == "degraded"
    assert health["clickhouse"]["ok"] is False
    assert health["spool"]["backlog_events"] == 60
    down.extensions["events"].stop(timeout=0.2)

    up = make_app(DATA_DIR=str(tmp_path / "svc"))
    up.extensions["events"].start()
    rows = clickhouse_rows(
        up, "SELECT count(), uniqExact(event_id) FROM consent_events WHERE kind = 'decision'"
    )
    assert rows == [(60, 60)]
    shipped = clickhouse_rows(up, "SELECT event_id FROM consent_events")
    assert sorted(str(e).replace("-", "") for (e,) in shipped) == sorted(
        b["record_id"] for b in bodies
    )
    with up.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ConsentRecord)) == 60


def _record_ids(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "consentry.db") as conn:
        return sorted(r for (r,) in conn.execute("SELECT record_id FROM consent_records"))


@pytest.mark.slow
def test_a_sigkilled_server_loses_no_decision_and_counts_none_twice(tmp_path):
    data_dir, url = tmp_path / "data", chdb_url(tmp_path / "ch", "consentry")
    body = decision(policy_version=POLICY)
    # A long ship interval: the kill comes while the decisions are still spooled.
    with service(data_dir, url, CONSENTRY_SHIP_INTERVAL="60") as server:
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda _: request_json(server.port, "POST", "/api/v1/consents", body),
                    range(200),
                )
            )
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    assert [status for status, _ in answers] == [201] * 200
    accepted = sorted(b["record_id"] for _, b in answers)
    assert _record_ids(data_dir) == accepted

    # The next start adopts the dead worker's spool and ships it; SIGTERM then stops it.
    with service(data_dir, url) as server:
        deadline = time.monotonic() + 60
        while request_json(server.port, "GET", "/healthz")[1]["spool"]["backlog_events"]:
            assert time.monotonic() < deadline, "the restarted server did not ship the spool"
            time.sleep(0.2)
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=60) == 0

    shipped = run_helper("count", url)["ids"]
    assert len(shipped) == 200
    assert sorted(uuid.UUID(i).hex for i in shipped) == accepted
