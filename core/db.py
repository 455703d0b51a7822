"""The SQL store: one SQLAlchemy instance and its migrations."""

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, MetaData, event
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeEngine

from core.times import utc_text

# Constraint and index names the code can name (to rename, drop, or catch one) and that
# are the same on every database; migrations made with this metadata get them too.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


# SQLite takes one writer at a time and makes the others poll for the lock, napping 1 to
# 100 ms between tries; queueing this process's writers here lets them go in turn instead.
_sqlite_writer = threading.Lock()


def _writer_turn(engine: Engine):
    return _sqlite_writer if engine.dialect.name == "sqlite" else nullcontext()


@contextmanager
def write_transaction() -> Iterator[Connection]:
    """Yield a connection in a transaction: committed at the end, rolled back on any error."""
    engine = db.engine
    with _writer_turn(engine), engine.begin() as conn:
        yield conn


# --- the direct path, for the few statements every request runs ---------------------


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: tuple[str, ...] | None  # bind names in order, for positional paramstyles
    # The same with each bind's processor (or None), for binding a row in one pass.
    positions: tuple[tuple[str, Callable[[Any], Any] | None], ...] | None
    literals: dict[str, Any]  # values the statement carries itself (``x + 1``)
    processors: dict[str, Callable[[Any], Any]]


class DirectStatement:
    """A Core statement compiled once per dialect and run straight on a DBAPI cursor.

    On the busiest write path SQLAlchemy's execution layer (connection checkout, execution
    context, result wrapping) costs more than the database: a decision's three statements
    take ~210 µs through ``Connection.execute`` and ~95 µs this way (bench/, in-process,
    SQLite). Values still go through each column type's own bind processor, so a row is
    stored exactly as the ORM would store it and reads back the same.
    """

    def __init__(self, statement: Executable, columns: list[str] | None = None):
        self._statement = statement
        self._columns = columns  # an INSERT's column list; None for a statement's own binds
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        done = self._by_dialect.get(dialect.name)
        if done is None:
            compiled = self._statement.compile(dialect=dialect, column_keys=self._columns)
            binds = {name: bind for bind, name in compiled.bind_names.items()}
            processors = {}
            for name, bind in binds.items():
                process = _processor(bind.type.dialect_impl(dialect), dialect)
                if process is not None:
                    processors[name] = process
            order = tuple(compiled.positiontup) if compiled.positional else None
            done = _Compiled(
                sql=compiled.string,
                order=order,
                positions=None if order is None else tuple((n, processors.get(n)) for n in order),
                literals={n: b.value for n, b in binds.items() if not b.required},
                processors=processors,
            )
            self._by_dialect[dialect.name] = done
        return done


def _processor(impl: TypeEngine, dialect: Dialect) -> Callable[[Any], Any] | None:
    process = impl.bind_processor(dialect)
    if (
        process is not None
        and type(impl) is SQLITE_DATETIME
        and impl._storage_format == SQLITE_DATETIME._storage_format
    ):
        return _sqlite_datetime(process)
    return process


def _sqlite_datetime(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLite's DATETIME text of a UTC or naive time from the texts core.times keeps: the
    digits SQLAlchemy's own formatter writes (``%``-formatting seven fields costs ~14k
    instructions a value), which formats any other value."""

    def bind(value: Any) -> Any:
        if type(value) is datetime and (value.tzinfo is None or value.tzinfo is UTC):
            return utc_text(value, sep=" ")
        return process(value)

    return bind


class DirectTransaction:
    """One transaction on a raw DBAPI connection, for :class:`DirectStatement` s."""

    def __init__(self, cursor, dialect: Dialect):
        self._cursor = cursor
        self._dialect = dialect

    def execute(self, statement: DirectStatement, params: dict[str, Any]):
        """Run ``statement`` with ``params``; return the cursor (for RETURNING rows)."""
        compiled = statement.compiled(self._dialect)
        self._cursor.execute(compiled.sql, _bound(compiled, params))
        return self._cursor

    def execute_many(self, statement: DirectStatement, rows: list[dict[str, Any]]) -> None:
        """Run ``statement`` once per row of parameters (one batch of INSERTs)."""
        compiled = statement.compiled(self._dialect)
        self._cursor.executemany(compiled.sql, [_bound(compiled, row) for row in rows])


def read_one(engine: Engine, statement: DirectStatement, params: dict[str, Any]) -> Any:
    """Run a read on a pooled connection's DBAPI cursor and return its first row, or None.

    No result processing: for values the DBAPI hands back as they are stored (strings,
    numbers, a comparison's truth). No writer's turn is taken: readers do not wait for
    SQLite's writer (WAL).
    """
    raw = engine.raw_connection()
    try:
        with closing(raw.cursor()) as cursor:
            return DirectTransaction(cursor, engine.dialect).execute(statement, params).fetchone()
    finally:
        raw.close()  # back to the pool, which ends the read transaction


def _bound(compiled: _Compiled, params: dict[str, Any]):
    values = compiled.literals | params if compiled.literals else params
    if compiled.positions is not None:
        return [
            values[name] if process is None else process(values[name])
            for name, process in compiled.positions
        ]
    if compiled.processors:
        values = dict(values)  # the caller's dict stays as it was
        for name, process in compiled.processors.items():
            values[name] = process(values[name])
    return values


@contextmanager
def direct_transaction() -> Iterator[DirectTransaction]:
    """Like :func:`write_transaction`, on a pooled connection's raw DBAPI connection.

    On SQLite, where this process's writers take turns anyway, the writer keeps its
    connection from one transaction to the next instead of taking it from the pool and
    giving it back each time (~10% of a decision's SQL path); a failed transaction gives it
    back, and a disposed pool (``engine.dispose()``) is never written through again.
    """
    engine = db.engine
    sqlite = engine.dialect.name == "sqlite"
    with _writer_turn(engine):
        raw = _kept_writer(engine) if sqlite else engine.raw_connection()
        try:
            with closing(raw.cursor()) as cursor:
                yield DirectTransaction(cursor, engine.dialect)
            raw.commit()
        except BaseException:
            if sqlite:
                _forget_writer()
            try:
                raw.rollback()
            except Exception:
                raw.invalidate()  # the connection is gone (a restarted server): drop it
            raise
        finally:
            if not sqlite or _kept is None:
                raw.close()  # back to the pool


# SQLite's writer connection between transactions: (engine, its pool then, connection).
# Only the holder of _sqlite_writer reads or changes it.
_kept: tuple[Engine, Any, Any] | None = None


def _kept_writer(engine: Engine):
    global _kept
    if _kept is not None:
        kept_engine, pool, raw = _kept
        if kept_engine is engine and pool is engine.pool:
            return raw
        _kept = None
        raw.close()  # another engine's, or from before a dispose(): back to its pool
    raw = engine.raw_connection()
    _kept = (engine, engine.pool, raw)
    return raw


def _forget_writer() -> None:
    global _kept
    _kept = None


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, _record):
    """WAL lets readers run beside the one writer; foreign keys are off in SQLite by default."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL syncs the WAL at every commit: with NORMAL a power cut may take back the last
    # commits, proof records already answered 201. Group commit shares the sync out.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
