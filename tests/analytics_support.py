"""Helpers for the analytics tests: a rollup database per module, raw events inserted into
it in batches (replays included), and brute-force recounts to compare reports with."""

import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from itertools import pairwise

from events_support import SCHEMA_DIR, chdb_url
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from core import jsoncodec
from events import schema
from events.clickhouse import ClickHouseStore

# Each example ships its stream into the module's database (emptied first): the fixture is
# shared on purpose. A few dozen examples per test keep the suite within its minutes.
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def event_stream(event: st.SearchStrategy[dict]) -> st.SearchStrategy:
    """Events, where to cut them into batches, and which batches to replay (and how)."""
    events = st.lists(event, max_size=40)
    cuts = st.lists(st.integers(0, 40), max_size=4)
    replays = st.lists(st.tuples(st.integers(0, 4), st.booleans()), max_size=3)
    return st.tuples(events, cuts, replays)


def rollup_store(chdb_root) -> Iterator[ClickHouseStore]:
    """A fresh, migrated database; yields its store, then drops it."""
    store = ClickHouseStore(chdb_url(chdb_root, f"t_{uuid.uuid4().hex[:12]}"))
    schema.upgrade(store, SCHEMA_DIR)
    yield store
    store.command(f"DROP DATABASE IF EXISTS {store.database}")
    store.close()


def empty(store: ClickHouseStore, tables: Iterable[str]) -> None:
    """Remove every row of ``tables`` (a raw table and its rollups), between examples."""
    for table in tables:
        store.command(f"TRUNCATE TABLE {table}")


def ship_stream(store: ClickHouseStore, tables: tuple[str, ...], stream) -> list[dict]:
    """Empty ``tables``, ship a drawn stream into the first (raw) one in batches with its
    replays; return the distinct events a recount should see."""
    events, cuts, replays = stream
    empty(store, tables)
    batches = split(events, cuts)
    insert_batches(store, tables[0], batches, replays)
    return unique_events(batches)


def insert_batches(store: ClickHouseStore, table: str, batches, replays) -> None:
    """Insert ``batches`` of rows, then the ``replays``: (batch index, same token?).

    A replay with the same token is what a shipper retry does (deduplicated at insert); one
    with a new token is a batch shipped twice (the raw table holds duplicates and only the
    uniqExact rollups keep the numbers right).
    """
    tokens = [uuid.uuid4().hex for _ in batches]
    for rows, token in zip(batches, tokens, strict=True):
        _insert(store, table, rows, token)
    for index, same_token in replays:
        if index < len(batches):
            token = tokens[index] if same_token else uuid.uuid4().hex
            _insert(store, table, batches[index], token)


def ship_spooled(store: ClickHouseStore, batches, replays, hooks, between=None) -> None:
    """Ship batches of spool lines, ``(table, row)``, as the shipper does: per batch, each
    table's rows in one insert (in the order the tables first appear, each with its own
    token), then the hooks of those tables (``{table: hook(rows)}``) with the batch's rows.

    ``replays``: (batch index, same token?) as in :func:`insert_batches`, but each right
    after its batch: the shipper retries the batch in flight (after a lost answer, a
    failed hook or a crash) before it reads any further. ``between(index)``, if given,
    runs after each batch (and its replays), as the shipper's periodic tasks do.
    """
    again: dict[int, list[bool]] = {}
    for index, same_token in replays:
        again.setdefault(index, []).append(same_token)
    for index, lines in enumerate(batches):
        token = uuid.uuid4().hex
        for same_token in [True, *again.get(index, [])]:
            tables: dict[str, list[dict]] = {}
            for table, row in lines:
                tables.setdefault(table, []).append(row)
            for table, rows in tables.items():
                _insert(store, table, rows, f"{token if same_token else uuid.uuid4().hex}/{table}")
            for table, rows in tables.items():
                if table in hooks:
                    hooks[table](rows)
        if between is not None:
            between(index)


def _insert(store: ClickHouseStore, table: str, rows: list[dict], token: str) -> None:
    if rows:
        store.insert_json(table, b"".join(jsoncodec.compact(r) + b"\n" for r in rows), token)


def split(events: list[dict], cuts: list[int]) -> list[list[dict]]:
    """Cut a stream of events into consecutive batches at the drawn positions."""
    bounds = [0, *sorted(c % (len(events) + 1) for c in cuts), len(events)]
    return [events[a:b] for a, b in pairwise(bounds)]


def unique_events(batches) -> list[dict]:
    """Every distinct event (by event_id) of the batches."""
    return list({row["event_id"]: row for rows in batches for row in rows}.values())


def at(day: int, second: int) -> str:
    """``ts`` text of an event ``day`` days and ``second`` seconds after 2026-11-01."""
    moment = datetime(2026, 11, 1) + timedelta(days=day, seconds=second)
    return moment.isoformat(sep=" ", timespec="milliseconds")


def share(part: int, whole: int) -> float | None:
    """The brute-force rate: None over nothing."""
    return part / whole if whole else None


def in_range(day: date, start: date, end: date) -> bool:
    return start <= day <= end
