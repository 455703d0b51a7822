"""The ClickHouse store: one lazily opened clickhouse-connect client behind a lock."""

import re
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from events.protocols import EventStore

_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Settings of every spool insert. A typo'd column fails loudly instead of vanishing; the
# spool writes timestamps as text; async inserts would acknowledge before writing and skip
# deduplication, so they are off even if a server profile turns them on. On a cluster, a
# Distributed table would otherwise queue the rows on this node and answer at once: rows
# acknowledged must be on their shards, where the shipping hooks (and reports) read them.
INSERT_SETTINGS = {
    "input_format_skip_unknown_fields": 0,
    "date_time_input_format": "best_effort",
    "async_insert": 0,
    "distributed_foreground_insert": 1,
}

# Server error codes that mean "these rows cannot be parsed into this table", as opposed to
# the server being unreachable, overloaded or missing the table: only these quarantine rows.
DATA_ERROR_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        33,  # CANNOT_READ_ALL_DATA
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA (unknown field, malformed JSON)
        131,  # TOO_LARGE_STRING_SIZE
        349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
        376,  # CANNOT_PARSE_UUID
        441,  # CANNOT_PARSE_IPV4
        442,  # CANNOT_PARSE_IPV6
    }
)


def is_data_error(error: Exception) -> bool:
    """Tell whether ClickHouse refused an insert because of the rows themselves."""
    return isinstance(error, DatabaseError) and error.code in DATA_ERROR_CODES


# Ids per lookup query: bound as one Array(UUID) parameter of ~370 KB.
ID_CHUNK = 10_000


def stored_ids(
    store: EventStore, table: str, ids: Iterable[str], since: datetime | None = None
) -> set[str]:
    """Return those of ``ids`` (UUID text) that ``table`` holds, in canonical form.

    ``since`` (optional) says no row older than it can match, so ClickHouse reads only
    the newer partitions instead of the whole ``event_id`` column.
    """
    wanted = sorted({c for c in map(canonical_id, ids) if c is not None})
    sql = (
        "SELECT DISTINCT toString(event_id) FROM {table:Identifier}"
        " WHERE event_id IN {ids:Array(UUID)}"
    )
    parameters: dict[str, Any] = {"table": table}
    if since is not None:
        # Milliseconds since the epoch: ts is DateTime64(3); a second of slack for rounding.
        sql += " AND ts >= fromUnixTimestamp64Milli({since:Int64})"
        parameters["since"] = int(since.timestamp() * 1000) - 1000
    found: set[str] = set()
    for start in range(0, len(wanted), ID_CHUNK):
        parameters["ids"] = wanted[start : start + ID_CHUNK]
        found.update(row[0] for row in store.query(sql, parameters))
    return found


def canonical_id(value: object) -> str | None:
    """Return a UUID in ClickHouse's text form, or None if ``value`` is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def split_database(url: str) -> tuple[str, str]:
    """Split a ClickHouse URL into the URL without its database and the database name."""
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        query = parse_qsl(parts.query)
        database = dict(query).get("database", "default")
        rest = urlencode([(k, v) for k, v in query if k != "database"])
        base = f"chdb://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")
    else:
        database = parts.path.strip("/") or "default"
        base = urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))
    if not _IDENTIFIER_RE.match(database):
        raise ValueError(f"not a ClickHouse database name: {database!r}")
    return base, database


class ClickHouseStore:
    """Run queries and inserts on one ClickHouse client, opened on first use."""

    def __init__(self, url: str):
        self.url = url
        self.base_url, self.database = split_database(url)
        self.embedded = url.startswith("chdb:")
        self._client: Client | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Tell whether a client is open (for chdb: whether this process holds the engine)."""
        return self._client is not None

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a SELECT with server-side ``{name:Type}`` parameters; return its rows."""
        with self._lock:
            result = self._open().query(sql, parameters=parameters)
            return [tuple(row) for row in result.result_rows]

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run a statement that returns no rows (DDL, INSERT … SELECT, DELETE)."""
        with self._lock:
            return self._open().command(sql, parameters=parameters)

    def insert_json(self, table: str, lines: bytes, token: str) -> None:
        """Insert JSONEachRow lines; a retry with the same token is deduplicated."""
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        with self._lock:
            self._open().raw_insert(
                table, None, insert_block=lines, fmt="JSONEachRow", settings=settings
            )

    def ping(self, wait: float = 1.0) -> tuple[bool | None, str | None]:
        """Check the server; None if the client stayed busy for ``wait`` seconds."""
        if not self._lock.acquire(timeout=wait):
            return None, None
        try:
            if self._open().ping():
                return True, None
            return False, "ClickHouse did not answer the ping"
        except Exception as e:
            return False, str(e)
        finally:
            self._lock.release()

    def create_database(self, cluster: str | None = None) -> None:
        """Create the database named in the URL if it does not exist (on every node of
        ``cluster`` if named)."""
        on_cluster = f" ON CLUSTER `{cluster}`" if cluster else ""
        with self._lock:
            client = self._connect(None)
            try:
                client.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`{on_cluster}")
            finally:
                client.close()

    def close(self, wait: float = -1) -> None:
        """Close the client; a later call opens a new one."""
        # A shipper stuck in a slow insert at shutdown must not hold the process up forever.
        if not self._lock.acquire(timeout=wait):
            return
        try:
            if self._client is not None:
                self._client.close()
                self._client = None
        finally:
            self._lock.release()

    def abandon(self) -> None:
        """Forget the client without closing it (it belongs to the parent of a fork)."""
        self._client = None
        self._lock = threading.Lock()

    def _open(self) -> Client:
        if self._client is None:
            self._client = self._connect(self.database)
        return self._client

    def _connect(self, database: str | None) -> Client:
        if self.embedded:
            return clickhouse_connect.get_client(dsn=self.base_url, database=database)
        # Sessions would serialise the shipper and health checks on the server; short
        # timeouts keep a dead server from hanging a health check or a shutdown flush.
        return clickhouse_connect.get_client(
            dsn=self.base_url,
            database=database or "default",
            autogenerate_session_id=False,
            connect_timeout=2,
            send_receive_timeout=30,
        )
