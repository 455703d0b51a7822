"""Kept read connections (core.readers) on SQLite and PostgreSQL: each read sees what was
committed before it, holds nothing open after it, takes no pool slot, and survives a
dispose, a broken connection and a fork."""

import os
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import bindparam, select

import core.db  # noqa: F401 (its connect event tunes SQLite as the app's connections are)
from core.db import DirectStatement
from core.readers import ReadConnections

METADATA = sa.MetaData()
THINGS = sa.Table(
    "things",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(20)),
)
READ = DirectStatement(select(THINGS.c.state).where(THINGS.c.id == bindparam("id")))


@pytest.fixture
def engine(database_url):
    engine = sa.create_engine(database_url)
    METADATA.create_all(engine)
    with engine.begin() as conn:
        conn.execute(THINGS.insert(), [{"id": 1, "state": "granted"}, {"id": 2, "state": "x"}])
    yield engine
    engine.dispose()


def _set(engine, state: str) -> None:
    with engine.begin() as conn:
        conn.execute(THINGS.update().where(THINGS.c.id == 1).values(state=state))


def test_a_read_sees_what_was_committed_before_it(engine):
    reads = ReadConnections(engine)
    assert reads.one(READ, {"id": 1}) == ("granted",)
    _set(engine, "denied")  # by another connection, after ours was kept
    assert reads.one(READ, {"id": 1}) == ("denied",)
    assert reads.one(READ, {"id": 3}) is None
    assert reads.idle() == 1  # the same connection each time
    assert engine.pool.checkedout() == 0  # and no slot of the pool


def test_nothing_stays_open_between_reads(engine):
    reads = ReadConnections(engine)
    reads.one(READ, {"id": 1})
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # A reader's snapshot would keep the checkpoint from emptying the WAL.
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            assert busy == 0
        else:
            states = conn.exec_driver_sql(
                "SELECT state FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalars()
            assert "idle in transaction" not in list(states)


def test_threads_reading_at_once_each_get_a_connection(engine):
    reads = ReadConnections(engine)
    start = threading.Barrier(4)
    found = []

    def read() -> None:
        start.wait()
        for _ in range(20):
            found.append(reads.one(READ, {"id": 1}))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [("granted",)] * 80
    assert 1 <= reads.idle() <= 4


def test_at_most_keep_connections_wait_idle(engine):
    reads = ReadConnections(engine, keep=1)
    start, done = threading.Barrier(3), threading.Barrier(3)

    def read() -> None:
        start.wait()
        reads.one(READ, {"id": 1})
        done.wait()

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    start.wait()
    done.wait()
    for thread in threads:
        thread.join()
    assert reads.idle() == 1


def test_a_dispose_closes_the_kept_connections_and_reads_go_on(engine):
    reads = ReadConnections(engine)
    reads.one(READ, {"id": 1})
    engine.dispose()
    assert reads.idle() == 0
    assert reads.one(READ, {"id": 2}) == ("x",)


def test_a_failed_read_drops_its_connection_and_the_next_one_reconnects(engine):
    reads = ReadConnections(engine)
    reads.one(READ, {"id": 1})
    missing = DirectStatement(sa.text("SELECT state FROM no_such_table"))
    with pytest.raises(engine.dialect.loaded_dbapi.Error):
        reads.one(missing, {})
    assert reads.idle() == 0
    assert reads.one(READ, {"id": 1}) == ("granted",)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_leaves_its_parents_connection_alone(engine):
    reads = ReadConnections(engine)
    reads.one(READ, {"id": 1})
    pid = os.fork()
    if pid == 0:  # the child: let go of the pool, as SQLAlchemy advises, and read
        code = 1
        try:
            engine.dispose(close=False)
            code = 0 if reads.one(READ, {"id": 2}) == ("x",) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's kept connection still works: the child closed none of it.
    assert reads.one(READ, {"id": 1}) == ("granted",)
    assert reads.idle() == 1
