"""Committing decisions: a refused commit leaves nothing behind; concurrent ones share one."""

import os
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from factories import clickhouse_rows, decision
from two_sites import TWO_SITES, post, shop_decision

from consent import chain
from consent.chain import verify_chain
from consent.models import ConsentRecord, SiteRow
from core.db import db
from events.pipeline import SHIPPER_THREAD

# The database itself refuses new records, as a full disk, a lost primary or a constraint
# added by an operator would: the failure is real, raised by the database at commit time.
REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_records BEFORE INSERT ON consent_records "
        "BEGIN SELECT RAISE(ABORT, 'consent records are refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_records() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'consent records are refused'; END $$",
        "CREATE TRIGGER refuse_records BEFORE INSERT ON consent_records "
        "FOR EACH ROW EXECUTE FUNCTION refuse_records()",
    ],
}
ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_records"],
    "postgresql": [
        "DROP TRIGGER refuse_records ON consent_records",
        "DROP FUNCTION refuse_records()",
    ],
}


def _run(app, statements: dict[str, list[str]]) -> None:
    with app.app_context(), db.engine.begin() as conn:
        for sql in statements[conn.dialect.name]:
            conn.execute(sa.text(sql))


def _counts(app) -> tuple[int, dict[str, int]]:
    with app.app_context():
        records = db.session.scalar(sa.select(sa.func.count()).select_from(ConsentRecord))
        seqs = dict(db.session.execute(sa.select(SiteRow.id, SiteRow.chain_seq)).all())
    return records, seqs


def test_a_refused_commit_answers_an_error_and_leaves_no_record_and_no_event(make_app):
    # Unhandled errors render as the 500 a real server gives, instead of reaching the test.
    app = make_app(SITES_FILE=TWO_SITES, PROPAGATE_EXCEPTIONS=False)
    client = app.test_client()
    kept = post(client, shop_decision()).get_json()  # one record before: its event must stay
    _run(app, REFUSE)

    for body in (decision(), shop_decision(consent_id=kept["consent_id"], choices={})):
        response = post(client, body)
        assert response.status_code == 500
        assert response.get_json()["error"]["code"] == "internal_error"
    withdrawal = client.delete(
        f"/api/v1/consents/{kept['consent_id']}", headers={"Origin": "https://shop.example"}
    )
    assert withdrawal.status_code == 500

    records, seqs = _counts(app)
    assert records == 1
    assert seqs.get("demo", 0) == 0  # the site's advance was rolled back with the insert
    assert seqs["shop"] == 1
    rows = clickhouse_rows(app, "SELECT site, action, consent_id FROM consent_events")
    assert rows == [("shop", "accept_all", kept["consent_id"])]
    assert app.extensions["events"].health()["spool"]["backlog_events"] == 0

    # Once the database takes records again, the chain goes on where it was, unbroken.
    _run(app, ALLOW)
    assert post(client, decision()).status_code == 201
    assert post(client, shop_decision(consent_id=kept["consent_id"])).status_code == 201
    records, seqs = _counts(app)
    assert (records, seqs["demo"], seqs["shop"]) == (3, 1, 2)
    with app.app_context():
        assert verify_chain("demo").valid
        assert verify_chain("shop").valid


# --- group commit ----------------------------------------------------------------------


@contextmanager
def _counting_commits(engine):
    """Count the transactions committed: on SQLite, the COMMITs its connections run (the
    chain's writer keeps its connection between transactions); elsewhere, connections
    taken from the pool (each chain transaction takes one). The shipper thread's periodic
    tasks (the reconciler, retention) use the database too, whenever they are due: their
    statements are not the requests', and are left out."""
    seen: list[str] = []

    def note(statement: str) -> None:
        if threading.current_thread().name != SHIPPER_THREAD:
            seen.append(statement)

    if engine.dialect.name == "sqlite":
        event, hook = "connect", lambda dbapi, _record: dbapi.set_trace_callback(note)
    else:
        event, hook = "checkout", lambda *_: note("COMMIT")
    sa.event.listen(engine, event, hook)
    engine.dispose()  # every connection from here on is a counted one, the writer's too
    try:
        yield seen
    finally:
        sa.event.remove(engine, event, hook)


def _wait_for(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


@pytest.mark.parametrize("waiting", [2, 8])
def test_decisions_that_queue_during_a_commit_share_the_next_transaction(make_app, waiting):
    app = make_app(SITES_FILE=TWO_SITES)
    for body in (decision(), shop_decision()):  # the group and both site rows exist
        assert post(app.test_client(), body).status_code == 201
    with app.app_context():
        engine = db.engine
    group = chain._group_commits[engine]
    answers: list[int] = []

    def decide(n: int) -> None:
        body = decision() if n % 2 else shop_decision()  # both sites in one batch
        answers.append(post(app.test_client(), body).status_code)

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(waiting)]
    # Counting disposes of the pool: a connection a periodic task of the shipper held
    # then would be left to the garbage collector (a ResourceWarning on PostgreSQL). The
    # decisions' events start it again, on the new pool.
    app.extensions["events"].stop(timeout=10)
    with _counting_commits(engine) as seen:
        # Holding the writer's turn, as a commit in progress does: every decision queues.
        with group._turn:
            for thread in threads:
                thread.start()
            _wait_for(lambda: len(group._queue) == waiting, f"{waiting} records queue")
            # Counted from here: what a request reads before it queues is not a commit.
            seen.clear()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        transactions = seen.count("COMMIT")

    assert answers == [201] * waiting
    assert transactions == 1
    records, seqs = _counts(app)
    assert records == 2 + waiting
    assert seqs == {"demo": 1 + waiting // 2, "shop": 1 + waiting // 2}
    with app.app_context():
        assert verify_chain("demo").valid
        assert verify_chain("shop").valid


def test_after_a_dispose_no_decision_is_written_through_the_old_connection(make_app, tmp_path):
    # The chain's SQLite writer keeps its connection between transactions; once the pool
    # is disposed (an operator moving the database, a test swapping it), that connection
    # must never be written through again.
    app = make_app(PROPAGATE_EXCEPTIONS=False)
    path = tmp_path / "test.db"
    if not path.exists():
        pytest.skip("the SQL store is not a SQLite file here")
    client = app.test_client()
    assert post(client, decision()).status_code == 201
    # Stopped: its periodic tasks (reconciler, retention) would open the database by
    # themselves, whenever due, and might create it again where it was.
    app.extensions["events"].stop(timeout=10)
    with app.app_context():
        db.engine.dispose()
    for suffix in ("", "-wal", "-shm"):  # the database moved away, with its WAL
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", tmp_path / f"moved.db{suffix}")
    path.mkdir()  # a directory where the database was: every new connection fails
    refused = post(client, decision())
    assert refused.status_code == 500, refused.get_data(as_text=True)
    with closing(sqlite3.connect(tmp_path / "moved.db")) as moved:
        assert moved.execute("SELECT count(*) FROM consent_records").fetchone() == (1,)
