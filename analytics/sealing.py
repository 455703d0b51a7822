"""Sealed counts: the email rollup's numbers finalized once per change, not per report.

``email_daily`` keeps each number of a (campaign, send day) as a uniqExact state: a set
of ids, exact and replay-proof, but reading one rebuilds the set, so a report over a month
touched some 20 million ids at every request. Most keys stop changing days after their
send, so the shipper seals them: for each key whose states changed since its last seal,
it writes the finalized numbers to ``email_daily_sealed`` with the key's ``changes``
value they were read with (migration 0008: a random number per written row, merged by
XOR, so any change to a key's rows changes it).

A report (:func:`group_numbers`) reads every key's ``changes`` and its seal in one
query, takes the sealed numbers where the two values match and counts the other keys
from their states. A seal that is missing, late or outdated therefore changes no number, only
the time a report takes: sealing is never needed for a report to be right, and a failed
round is simply tried again. Several processes may seal at once (gunicorn workers on a
ClickHouse server): each seal is the numbers of the changes value it names, and the
latest seal of a key replaces the others when parts merge.

On a cluster (CONSENTRY_CLICKHOUSE_CLUSTER) a key's rows sit on several shards, which
FINAL does not merge: reports there merge the states (analytics.rollups) and nothing is
sealed.
"""

import logging
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from events.clickhouse import ClickHouseStore
from events.protocols import EventStore

log = logging.getLogger(__name__)

SEALED = "email_daily_sealed"
# How often the shipper thread seals what changed. A key that changed since is counted
# from its states by reports until then: exact, only slower.
SEAL_SECONDS = 10.0

AGENT_CLASSES = ("human", "mail_proxy", "apple_mpp", "security_scanner", "bot")

# (state column of email_daily, report number): one column per number, as in
# 0005_email_rollups.sql; email_daily_sealed has the same columns as plain counts.
EMAIL_NUMBERS = [
    ("sent", "sent"),
    ("aggregate_sent", "aggregate_sent"),
    ("open_events", "opens"),
    ("opened", "unique_opens"),
    *((f"opened_{c}", f"opened_by_{c}") for c in AGENT_CLASSES),
    ("human_opened", "human_opens"),
    ("engaged", "engaged"),
    ("click_events", "clicks"),
    ("clicked", "unique_clicks"),
    ("human_clicked", "human_clicks"),
    ("unsubscribed", "unsubscribes"),
    ("tracking_opted_out", "tracking_optouts"),
]
STATES = [state for state, _ in EMAIL_NUMBERS]
Key = tuple[str, date]  # (campaign, send_day)

# Keys per statement that names them (a bound array parameter).
_CHUNK = 500
# Keys a periodic run seals at most (~1 s of the shipper thread for small keys).
PER_RUN = 5_000

# Names in these statements come from this module's lists; every value is bound.
# Every key of email_daily matching {where}, with its changes value now and its latest
# seal, read in one query so that each key is either fresh (its seal's numbers are its
# numbers) or not, once; the fresh keys' numbers added up per group ({group}: campaign,
# or campaign and send_day), the others' keys listed. A key without a seal has NULL seal
# columns (join_use_nulls), never fresh.
_STATUS = (
    "SELECT {group}, "  # noqa: S608
    + ", ".join(f"sumIf({state}, fresh)" for state in STATES)
    + ", groupArrayIf((campaign, send_day), NOT fresh) FROM ("
    "SELECT c.campaign AS campaign, c.send_day AS send_day,"
    " ifNull(s.changes = c.changes, 0) AS fresh, "
    + ", ".join(f"ifNull(s.{state}, 0) AS {state}" for state in STATES)
    + " FROM (SELECT campaign, send_day, groupBitXor(changes) AS changes FROM email_daily"
    " WHERE {where} GROUP BY campaign, send_day) AS c"
    " LEFT JOIN (SELECT * FROM " + SEALED + " FINAL WHERE {where}) AS s"
    " USING (campaign, send_day))"
    " GROUP BY {group} ORDER BY {group} SETTINGS join_use_nulls = 1"
)
# The numbers of some keys counted from their states (FINAL merges a key's parts first;
# the key filter is the table's primary key, so other keys' states are not read).
_FINALIZED = (
    "SELECT campaign, send_day, changes, "  # noqa: S608
    + ", ".join(f"finalizeAggregation({state}) AS {state}" for state in STATES)
    + " FROM email_daily FINAL"
    " WHERE (campaign, send_day) IN {keys:Array(Tuple(String, Date))}"
)
# The keys no seal matches (an anti join: a key never sealed has no seal to match).
_UNSEALED = (
    "SELECT campaign, send_day FROM (SELECT campaign, send_day,"  # noqa: S608
    " groupBitXor(changes) AS changes FROM email_daily GROUP BY campaign, send_day) AS c"
    " LEFT ANTI JOIN (SELECT campaign, send_day, changes FROM " + SEALED + " FINAL) AS s"
    " USING (campaign, send_day, changes) ORDER BY send_day DESC, campaign"
)
# Changes whenever any key's rows do (XOR of random values: unchanged only by chance).
_EVERY_ROW = "SELECT groupBitXor(changes) FROM email_daily"
# Changes when seals go (read from the parts' metadata).
_SEALS = "SELECT count() FROM " + SEALED  # noqa: S608
_SEAL = (
    f"INSERT INTO {SEALED} (campaign, send_day, changes, {', '.join(STATES)}, sealed_at) "  # noqa: S608
    f"SELECT *, now64(6) FROM ({_FINALIZED})"
)


def group_numbers(
    store: EventStore, group: Sequence[str], where: str, parameters: dict[str, Any]
) -> dict[tuple[Any, ...], dict[str, int]]:
    """The numbers of email_daily's keys that ``where`` selects, added up per ``group``
    (``campaign`` and maybe ``send_day``: a message has one send day, so the numbers of
    send days add up), by state column name: each key's from its seal where that is
    current, else from its states. In the order of the groups.

    ``where`` is a condition on ``campaign`` and ``send_day`` with bound ``parameters``.
    """
    columns = ", ".join(group)
    sql = _STATUS.replace("{group}", columns).replace("{where}", where)
    totals: dict[tuple[Any, ...], dict[str, int]] = {}
    stale: list[Key] = []
    for row in store.query(sql, parameters):
        totals[tuple(row[: len(group)])] = dict(zip(STATES, row[len(group) : -1], strict=True))
        stale += row[-1]
    for keys in _chunks(stale):
        for campaign, send_day, _, *counts in store.query(_FINALIZED, {"keys": keys}):
            key = {"campaign": campaign, "send_day": send_day}
            numbers = totals[tuple(key[c] for c in group)]
            for state, count in zip(STATES, counts, strict=True):
                numbers[state] += count
    return totals


def unsealed(store: EventStore) -> list[Key]:
    """The keys whose states changed since their last seal (or were never sealed), the
    latest send days first."""
    return [(campaign, send_day) for campaign, send_day in store.query(_UNSEALED)]


def seal(store: ClickHouseStore, limit: int | None = None) -> int:
    """Seal the keys that changed since their last seal (at most ``limit``, the latest
    send days first) with their numbers now; return how many. Each seal's numbers and
    changes value are read together, in one statement."""
    keys = unsealed(store)[:limit]
    for chunk in _chunks(keys):
        store.command(_SEAL, {"keys": chunk})
    if keys:
        log.debug("sealed %d email rollup key(s)", len(keys))
    return len(keys)


class Sealer:
    """The shipper thread's periodic task: seal what changed since the last run.

    A run first reads two numbers, the XOR of every row's ``changes`` and the count of
    seals (a few ms for 400,000 keys): unchanged since this sealer last left nothing
    unsealed, nothing can need a seal. Otherwise it seals at most ``per_run`` keys and,
    if more are waiting, asks to run again after the next shipping round, so that a large
    backlog (all keys, after migration 0008) never holds shipping up for long.
    """

    def __init__(self, store: ClickHouseStore, per_run: int = PER_RUN):
        self._store = store
        self._per_run = per_run
        self._sealed_at: tuple | None = None  # those numbers when all was sealed

    def __call__(self) -> float | None:
        rows, seals = (self._store.query(sql)[0][0] for sql in (_EVERY_ROW, _SEALS))
        if (rows, seals) == self._sealed_at:
            return None
        if seal(self._store, self._per_run) == self._per_run:
            return 0.0  # maybe more: after the next round
        # The rows as they were before the seals were read (a change since comes next
        # time), and the seals as they are now, these included.
        self._sealed_at = (rows, self._store.query(_SEALS)[0][0])
        return None


def _chunks(keys: Sequence[Key]) -> Iterator[list[Key]]:
    for start in range(0, len(keys), _CHUNK):
        yield list(keys[start : start + _CHUNK])
