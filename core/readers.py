"""Connections kept open for the few one-row reads on a hot path, outside the pool.

Checking a connection out of SQLAlchemy's pool and back costs about as much as an indexed
read itself (~20 µs: the checkout, the reset on return, their events). A pixel hit reads
one row; :class:`ReadConnections` keeps DBAPI connections of its own, each used by one
thread at a time, and runs a :class:`core.db.DirectStatement` on them. It holds as many
as reads have run at once — under gunicorn's gthread worker at most one per thread — and
keeps at most ``keep`` of them idle.

Why this is safe on SQLite and PostgreSQL alike:

- every connection is in autocommit mode: a read is its own transaction, sees what was
  committed before it, and nothing stays open between reads (no PostgreSQL session "idle
  in transaction", no SQLite read snapshot holding the WAL back);
- connections are made by the engine's pool, so its ``connect`` events tune them as every
  other connection is tuned (core.db), and detached from it at once: they take no slot;
- a read that fails closes its connection and every idle one (the server may have
  restarted under all of them) and raises: the caller decides (the pixel logs nothing and
  answers its GIF); the next read connects afresh;
- ``engine.dispose()`` closes the idle ones, and the ones in use when they come back;
- after a fork the child makes its own: it never uses, nor closes, one of its parent's.
"""

import os
import threading
from contextlib import closing, suppress
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import PoolProxiedConnection

from core.db import DirectStatement, DirectTransaction

KEEP_IDLE = 32


class ReadConnections:
    """Run one-row reads on kept autocommit connections of an engine's database."""

    def __init__(self, engine: Engine, keep: int = KEEP_IDLE) -> None:
        self._engine = engine
        self._keep = keep
        self._lock = threading.Lock()
        self._idle: list[PoolProxiedConnection] = []
        self._generation = 0  # moves on at each dispose: older connections are retired
        self._pid = os.getpid()
        self._inherited: list[list[PoolProxiedConnection]] = []
        event.listen(engine, "engine_disposed", self._on_dispose)

    def one(self, statement: DirectStatement, params: dict[str, Any]) -> tuple | None:
        """Run ``statement`` and return its first row, or None."""
        conn, generation = self._take()
        try:
            with closing(conn.cursor()) as cursor:
                row = DirectTransaction(cursor, self._engine.dialect).execute(statement, params)
                found = row.fetchone()
        except BaseException:
            self._close_all(also=conn)
            raise
        self._give_back(conn, generation)
        return found

    def idle(self) -> int:
        """How many connections wait for the next read."""
        return len(self._idle)

    def _forked(self) -> None:
        # Called under the lock. In a forked child the idle connections are its parent's:
        # kept referenced, so that no garbage collection closes them from here.
        if self._pid != os.getpid():
            self._inherited.append(self._idle)
            self._idle, self._pid = [], os.getpid()

    def _take(self) -> tuple[PoolProxiedConnection, int]:
        with self._lock:
            self._forked()
            generation = self._generation
            if self._idle:
                return self._idle.pop(), generation
        conn = self._engine.raw_connection()
        conn.detach()
        try:
            dbapi = cast(DBAPIConnection, conn.dbapi_connection)  # a checkout always has one
            self._engine.dialect.set_isolation_level(dbapi, "AUTOCOMMIT")
        except BaseException:
            conn.close()
            raise
        return conn, generation

    def _give_back(self, conn: PoolProxiedConnection, generation: int) -> None:
        with self._lock:
            if generation == self._generation and len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        conn.close()

    def _close_all(self, also: PoolProxiedConnection | None = None) -> None:
        with self._lock:
            self._forked()
            idle, self._idle = self._idle, []
            self._generation += 1
        for conn in [*idle, *([also] if also is not None else [])]:
            # Detached: really closed. One that is already gone is closed enough.
            with suppress(Exception):
                conn.close()

    def _on_dispose(self, engine: Engine) -> None:
        self._close_all()
