"""Helpers for the analytics tests: a rollup database per module, raw events inserted into
it in batches (replays included), and brute-force recounts to compare reports with."""

import uuid
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import pairwise

from events_support import SCHEMA_DIR, chdb_url

from core import jsoncodec
from events import schema
from events.clickhouse import ClickHouseStore


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


def share(part: int, whole: int) -> float | None:
    """The brute-force rate: None over nothing."""
    return part / whole if whole else None


def in_range(day: date, start: date, end: date) -> bool:
    return start <= day <= end
