"""The SQL store: one SQLAlchemy instance and its migrations."""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


# SQLite takes one writer at a time and makes the others poll for the lock, napping 1 to
# 100 ms between tries; queueing this process's writers here lets them go in turn instead.
_sqlite_writer = threading.Lock()


@contextmanager
def write_transaction() -> Iterator[Connection]:
    """Yield a connection in a transaction: committed at the end, rolled back on any error."""
    engine = db.engine
    with (
        _sqlite_writer if engine.dialect.name == "sqlite" else nullcontext(),
        engine.begin() as conn,
    ):
        yield conn


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, _record):
    """WAL lets readers run beside the one writer; foreign keys are off in SQLite by default."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def as_utc(moment: datetime | None) -> datetime | None:
    """Read a stored time as aware UTC: SQLite hands back naive values, PostgreSQL aware ones."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
