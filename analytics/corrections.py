"""Corrections reach the numbers: the email rollups are recounted where an event's class
changed after it was counted.

A scanner's burst shows itself only after some of its hits were logged and rolled up as
``human`` or ``bot`` (pixel.bursts); the correction is a row of ``email_reclassified``
(migration 0006). The rollups' materialized views saw the events at insert time, and
their uniqExact states are sets that cannot take a message out again (another open of
the same message may still hold it in). So a correction is applied by recounting: each
(campaign, send day) key it touches is deleted from ``email_daily`` and
``email_age_daily`` (lightweight DELETE) and counted again from ``email_events`` with
every correction applied, by the rollup's own view SELECT (events.schema.view_select),
so the view and the recount are one definition.

It runs as a shipping hook (events.pipeline.Pipeline.after_shipping): after a batch of
corrections is inserted and before the batch is acknowledged. Its events are already in
ClickHouse then, since a correction names hits spooled before it in the same spool,
which ships in order. If the recount fails the batch is shipped again and the recount
redone; it is idempotent. Why this design, its cost and its limits: docs/analytics.md,
"Corrections".

A key older than the raw events' retention is left alone: its raw rows may be gone, and
a recount would lose what the rollup still holds.

Where several processes ship (gunicorn workers on a ClickHouse server), two recounts of
one key can overlap: one that read the raw events before a correction may write after
the other deleted, and its stale states would stay. So there each key is recounted once
more :data:`SETTLE_SECONDS` after this process last recounted it (:meth:`settle`, a
periodic task): by then every overlapping recount has landed. The embedded engine has
one shipping process, whose recounts run one after the other.
"""

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from events.clickhouse import ClickHouseStore, canonical_id
from events.cluster import for_cluster
from events.schema import all_tables, load_migrations, reading, view_select

log = logging.getLogger(__name__)

RAW = "email_events"
CORRECTIONS = "email_reclassified"
# The rollups whose numbers depend on an event's class, keyed by campaign and send day.
ROLLUPS = ("email_daily", "email_age_daily")

Key = tuple[str, date]  # (campaign, send_day)

# Far longer than one recount takes, short enough that a report is right soon after.
SETTLE_SECONDS = 30.0

# The raw events of some campaigns (parameter ``campaigns``), each with its class as
# corrected: what every report number counts. GLOBAL: on a cluster both tables are
# Distributed, and the corrections are gathered once, then sent to every shard (elsewhere
# it changes nothing). A replayed correction is a duplicate row: any().
CORRECTED_EVENTS = """
SELECT * EXCEPT (corrected_class)
    REPLACE (coalesce(nullIf(corrected_class, ''), agent_class) AS agent_class)
FROM email_events
GLOBAL LEFT JOIN (
    SELECT event_id, any(agent_class) AS corrected_class
    FROM email_reclassified
    WHERE campaign IN {campaigns:Array(String)}
    GROUP BY event_id
) AS corrections USING (event_id)
WHERE campaign IN {campaigns:Array(String)}
"""
# The events some corrections name, to find the keys the view puts them under.
_NAMED = """
SELECT * FROM email_events
WHERE campaign IN {campaigns:Array(String)} AND event_id IN {ids:Array(UUID)}
"""
_OF_KEYS = "(campaign, send_day) IN {keys:Array(Tuple(String, Date))}"
# On a cluster the Distributed table would otherwise queue the rows and answer at once:
# the next refresh's DELETE could then come before them.
_SYNC = "SETTINGS distributed_foreground_insert = 1"


class RollupRefresher:
    """Recount the email rollups' (campaign, send day) keys with every correction applied."""

    def __init__(
        self,
        store: ClickHouseStore,
        schema_dir: Path,
        *,
        cluster: str | None = None,
        retention_days: int = 400,
        settle: float | None = None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        clock: Callable[[], float] = time.monotonic,
    ):
        """``settle``: recount each key once more this many seconds after its last
        recount here (where several processes ship), or never (None)."""
        self._store = store
        self._schema_dir = schema_dir
        self._cluster = cluster
        self._retention_days = retention_days
        self._settle = settle
        self._today = today
        self._clock = clock
        self._unsettled: dict[Key, float] = {}  # key -> when to recount it once more

    def __call__(self, corrections: list[dict[str, Any]]) -> None:
        """The shipping hook: recount the keys a batch of ``email_reclassified`` rows touches."""
        self.refresh(self.keys_of(corrections))

    def keys_of(self, corrections: Iterable[dict[str, Any]]) -> set[Key]:
        """The rollup keys of the events some corrections name (those ClickHouse has)."""
        # Rows ClickHouse refused come along too (set aside by the shipper): a malformed
        # id names no event, and must not fail the hook (and hold the spool) forever.
        named = {i: c for c in corrections if (i := canonical_id(c.get("event_id")))}
        campaigns = {str(c["campaign"]) for c in named.values() if c.get("campaign") is not None}
        if not campaigns:
            return set()
        rows = self._store.query(
            self.statements["keys"], {"campaigns": sorted(campaigns), "ids": sorted(named)}
        )
        return {(campaign, day) for campaign, day in rows}

    def keys_between(self, start: date, end: date, campaign: str | None = None) -> set[Key]:
        """The keys the rollups hold for send days ``start`` to ``end`` (and a campaign)."""
        sql = "SELECT DISTINCT campaign, send_day FROM email_daily"
        sql += " WHERE send_day BETWEEN {start:Date} AND {end:Date}"
        if campaign is not None:
            sql += " AND campaign = {campaign:String}"
        rows = self._store.query(sql, {"start": start, "end": end, "campaign": campaign or ""})
        return {(name, day) for name, day in rows}

    def refresh(self, keys: Iterable[Key]) -> set[Key]:
        """Recount ``keys`` in every rollup; return those recounted (not the expired ones)."""
        oldest = self._today() - timedelta(days=self._retention_days - 1)
        keys = set(keys)
        expired = {key for key in keys if key[1] < oldest}
        if expired:
            log.warning(
                "corrections of %d rollup key(s) sent before %s left out: their raw events "
                "may have expired (EVENT_RETENTION_DAYS)",
                len(expired),
                oldest,
            )
        keys -= expired
        self._recount(keys)
        if self._settle is not None and keys:
            due = self._clock() + self._settle
            self._unsettled.update(dict.fromkeys(keys, due))
        return keys

    def settle(self) -> float | None:
        """Recount once more the keys whose last recount here is ``settle`` seconds old
        (a periodic task, run by the shipper thread as the hook is); return the seconds
        until the next one is due, or None when none is waiting."""
        now = self._clock()
        due = {key for key, at in self._unsettled.items() if at <= now}
        self._recount(due)
        for key in due:
            del self._unsettled[key]
        if not self._unsettled:
            return None
        return min(self._unsettled.values()) - now

    def _recount(self, keys: set[Key]) -> None:
        if not keys:
            return
        parameters = {
            "campaigns": sorted({campaign for campaign, _ in keys}),
            "keys": sorted(keys),
        }
        for rollup in ROLLUPS:
            self._store.command(self.statements[f"delete {rollup}"], parameters)
            self._store.command(self.statements[f"insert {rollup}"], parameters)

    @cached_property
    def statements(self) -> dict[str, str]:
        """The statements a refresh runs, by name, in this install's shape (one server or
        a cluster); values are bound parameters.

        Built on first use from the schema history: the views' SELECTs are the rollups'
        definitions, read from the same files ``consentry db upgrade`` applies.
        """
        migrations = load_migrations(self._schema_dir)
        tables = all_tables(migrations)
        sql = {"keys": _keys_sql(view_select(migrations, ROLLUPS[0]))}
        for rollup in ROLLUPS:
            recount = reading(view_select(migrations, rollup), RAW, CORRECTED_EVENTS)
            delete = f"DELETE FROM {rollup} WHERE {_OF_KEYS}"  # noqa: S608 (our names)
            (sql[f"delete {rollup}"],) = (
                for_cluster(delete, self._cluster, tables) if self._cluster else [delete]
            )
            sql[f"insert {rollup}"] = (
                f"INSERT INTO {rollup} {_SYNC} SELECT * FROM ({recount}) WHERE {_OF_KEYS}"  # noqa: S608
            )
        return sql


def _keys_sql(view: str) -> str:
    # The keys come from the view itself, so a key is what the view makes of an event.
    return f"SELECT DISTINCT campaign, send_day FROM ({reading(view, RAW, _NAMED)})"  # noqa: S608
