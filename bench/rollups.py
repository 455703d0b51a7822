"""Benchmark the open-rate report: from the email rollup against the raw events table.

Run with ``python -m bench.rollups [--events N] [--runs R]``. N raw email events (default
10 million: sends, opens of every agent class, clicks, unsubscribes, tracking opt-outs;
five events per message, 20 campaigns sent over 30 days) are generated inside the
embedded engine with one ``INSERT … SELECT FROM numbers(N)`` into ``email_events``, so the
materialized view fills ``email_daily`` exactly as shipped batches would. The rollup's
parts are then merged (``OPTIMIZE … FINAL``, what background merges do on their own; the
report reads with FINAL, so unmerged parts cost time, not correctness).

It times the report the API serves (``analytics.rollups.open_rates``, one row of the
rollup per campaign and send day) with nothing sealed (every send day's uniqExact states
finalized), then the sealing of every send day (``analytics.sealing.seal``, what the
shipper's periodic task does), the report with every send day sealed, the same numbers
computed from the raw table with uniqExactIf over message and event ids, and the report
after one send day changed (100 more opens: 59 sealed, one from its states). It checks
that all give identical numbers, equal to the raw table's, and prints the best wall and
CPU time of each and the ratios.

Then corrections (analytics.corrections): 1% of the human and bot opens and clicks are
marked security_scanner in ``email_reclassified``; it times the recount that follows one
shipped batch of corrections of one campaign send day (what the shipper's hook does,
best of 3), and the recount of every send day of the month (``consentry report
refresh``), and checks that the report then equals the raw table counted with the
corrections applied.
"""

import argparse
import os
import platform
import tempfile
import time
from datetime import date
from functools import partial
from pathlib import Path

from analytics import sealing
from analytics.corrections import CORRECTED_EVENTS, RollupRefresher
from analytics.rollups import AGENT_CLASSES, HUMAN_OPEN_CLASSES, ReportQuery, open_rates
from events.clickhouse import ClickHouseStore
from events.schema import reading, upgrade

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "migrations" / "clickhouse"
FIRST_DAY = date(2026, 11, 1)
QUERY = ReportQuery(FIRST_DAY, date(2026, 11, 30))

# Five events per message: the send, two opens, a click or an open, and a fifth event that
# is mostly an open, sometimes an unsubscribe or a tracking opt-out. Agent classes are
# drawn with Apple MPP and scanners common, as in the field (docs/analytics.md).
GENERATE = """
INSERT INTO email_events
    (event_id, ts, kind, site, campaign, list, message_id, recipient, tracking, sent_at,
     agent_class)
SELECT
    generateUUIDv4(number),
    sent + toIntervalSecond(if(kind = 'sent', 0, cityHash64(number, 2) % 864000)),
    kind, 'demo', concat('campaign-', toString(m % 20)), 'default',
    lower(hex(sipHash128(m))),
    if(m % 4 = 0, '', lower(hex(sipHash64(m)))),
    if(m % 4 = 0, 'aggregate', 'individual'),
    sent,
    if(kind IN ('open', 'click'),
       ['apple_mpp', 'apple_mpp', 'human', 'human', 'mail_proxy', 'security_scanner', 'bot']
       [1 + cityHash64(number, 1) % 7], '')
FROM (
    SELECT number, intDiv(number, 5) AS m,
        multiIf(number % 5 = 0, 'sent',
                number % 5 = 3 AND cityHash64(number, 3) % 2 = 0, 'click',
                number % 5 = 4 AND cityHash64(number, 4) % 100 = 0, 'unsubscribe',
                number % 5 = 4 AND cityHash64(number, 4) % 100 = 1, 'tracking_optout',
                'open') AS kind,
        toDateTime64('2026-11-01 08:00:00', 3, 'UTC') + toIntervalDay(m % 30) AS sent
    FROM numbers({events:UInt64})
)
"""

_HUMAN = f"kind = 'open' AND agent_class IN {HUMAN_OPEN_CLASSES}"


def _messages(condition: str) -> str:
    return f"uniqExactIf(message_id, message_id != '' AND ({condition}))"


RAW_REPORT = f"""
SELECT campaign,
    {_messages("kind = 'sent'")},
    {_messages("kind = 'sent' AND tracking = 'aggregate'")},
    uniqExactIf(event_id, kind = 'open'),
    {_messages("kind = 'open'")},
    {", ".join(_messages(f"kind = 'open' AND agent_class = '{c}'") for c in AGENT_CLASSES)},
    {_messages(_HUMAN)},
    {_messages(f"({_HUMAN}) OR (kind = 'click' AND agent_class = 'human')")},
    uniqExactIf(event_id, kind = 'click'),
    {_messages("kind = 'click'")},
    {_messages("kind = 'click' AND agent_class = 'human'")},
    {_messages("kind = 'unsubscribe'")},
    {_messages("kind = 'tracking_optout'")}
FROM email_events
WHERE toDate(ifNull(sent_at, ts)) BETWEEN {{start:Date}} AND {{end:Date}}
GROUP BY campaign ORDER BY campaign
"""  # noqa: S608 (no value is formatted in: the names are this module's constants)


# A scanner's burst found out later, for 1% of the opens and clicks that looked human or
# like a bot: the correction the shipper would have shipped, seconds after the event.
CORRECT = """
INSERT INTO email_reclassified
SELECT event_id, ts + toIntervalSecond(5), campaign, message_id, 'security_scanner',
       'burst:all_links'
FROM email_events
WHERE kind IN ('open', 'click') AND agent_class IN ('human', 'bot')
  AND cityHash64(event_id) % 100 = 0
"""
# One shipped batch's worth: the corrections of one campaign's first send day.
ONE_BATCH = """
SELECT toString(r.event_id), r.campaign FROM email_reclassified AS r
INNER JOIN email_events AS e ON e.event_id = r.event_id
WHERE e.campaign = 'campaign-0' AND e.campaign = r.campaign
  AND toDate(e.sent_at) = '2026-11-01'
"""
CAMPAIGNS = [f"campaign-{n}" for n in range(20)]
# What changes one send day after it was sealed: 100 more human opens of its messages.
ONE_MORE_OPEN = """
INSERT INTO email_events (event_id, ts, kind, site, campaign, list, message_id, recipient,
                          tracking, sent_at, agent_class)
SELECT generateUUIDv4(), ts + toIntervalSecond(3600), 'open', site, campaign, list,
       message_id, recipient, tracking, sent_at, 'human'
FROM email_events
WHERE campaign = 'campaign-0' AND kind = 'sent' AND toDate(sent_at) = '2026-11-01'
LIMIT 100
"""


def _counts(row: dict) -> tuple:
    classes = tuple(row["unique_opens_by_class"][c] for c in AGENT_CLASSES)
    return (
        row["campaign"], row["sent"], row["aggregate_sent"], row["opens"], row["unique_opens"],
        *classes, row["human_opens"], row["engaged"], row["clicks"], row["unique_clicks"],
        row["human_clicks"], row["unsubscribes"], row["tracking_optouts"],
    )  # fmt: skip


def _best(runs: int, action) -> tuple[float, float, object]:
    """Best wall time and best CPU time (this process, all threads: the engine runs in it)
    of ``runs`` calls. CPU time is what a shared machine's load barely moves."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rollups-") as tmp:
        store = ClickHouseStore(f"chdb://{tmp}/clickhouse?database=bench")
        upgrade(store, SCHEMA_DIR)
        started = time.perf_counter()
        store.command(GENERATE, {"events": args.events})
        generated = time.perf_counter() - started
        store.command("OPTIMIZE TABLE email_daily FINAL")
        rollup_rows = store.query("SELECT count() FROM email_daily")[0][0]
        parameters = {"start": QUERY.start, "end": QUERY.end}
        load = os.getloadavg()
        report = partial(open_rates, store, QUERY)
        raw_report = partial(store.query, RAW_REPORT, parameters)
        unsealed, unsealed_cpu, from_states = _best(args.runs, report)
        seal, seal_cpu, sealed_keys = _best(1, partial(sealing.seal, store))
        rollup, rollup_cpu, from_rollup = _best(args.runs, report)
        raw, raw_cpu, from_raw = _best(args.runs, raw_report)
        same = from_states == from_rollup
        same = same and [_counts(r) for r in from_rollup] == [tuple(r) for r in from_raw]
        store.command(ONE_MORE_OPEN)
        one, one_cpu, from_one = _best(args.runs, report)
        one_more = [_counts(r) for r in from_one] == [tuple(r) for r in raw_report()]
        corrected = _corrections(store, args.events, parameters)
        store.close()
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {python}")
    print(f"load average before the timed runs: {load[0]:.1f} (1 min, other processes)")
    print(f"{args.events:,} raw email events generated and rolled up in {generated:.1f} s")
    print(f"email_daily: {rollup_rows:,} rows (campaign send days) after merging")
    print(f"sealing every send day ({sealed_keys}): {seal:.3f} s wall, {seal_cpu:.3f} s CPU")
    print(f"open-rate report, {len(from_rollup)} campaigns, best of {args.runs}:")
    print(f"  rollup, every send day sealed:  {rollup:.3f} s wall, {rollup_cpu:.3f} s CPU")
    print(f"  rollup, one send day changed:   {one:.3f} s wall, {one_cpu:.3f} s CPU")
    print(f"  rollup, nothing sealed:         {unsealed:.3f} s wall, {unsealed_cpu:.3f} s CPU")
    print(f"  raw table:                      {raw:.3f} s wall, {raw_cpu:.3f} s CPU")
    for name, wall, cpu in [
        ("sealed", rollup, rollup_cpu),
        ("one changed", one, one_cpu),
        ("nothing sealed", unsealed, unsealed_cpu),
    ]:
        print(f"  ratio raw / {name + ':':<19} {raw / wall:.1f}x wall, {raw_cpu / cpu:.1f}x CPU")
    print(f"  identical numbers:              {same} (one send day changed: {one_more})")
    if not (same and one_more):
        raise SystemExit("the rollup and the raw table disagree")
    _print_corrections(*corrected)


def _corrections(store: ClickHouseStore, events: int, parameters: dict) -> tuple:
    """Mark 1% of the person-like hits a scanner's; time the recounts; compare with raw."""
    store.command(CORRECT)
    marked, keys = store.query(
        "SELECT count(), uniqExact(e.campaign, toDate(e.sent_at)) FROM email_reclassified AS r "
        "INNER JOIN email_events AS e ON e.event_id = r.event_id"
    )[0]
    refresher = RollupRefresher(store, SCHEMA_DIR, today=lambda: QUERY.end)
    batch = [{"event_id": i, "campaign": c} for i, c in store.query(ONE_BATCH)]
    one, one_cpu, _ = _best(3, lambda: refresher(batch))
    read = store.query("SELECT count() FROM email_events WHERE campaign = 'campaign-0'")[0][0]
    every, every_cpu, _ = _best(
        1, lambda: refresher.refresh(refresher.keys_between(QUERY.start, QUERY.end))
    )
    raw = reading(RAW_REPORT, "email_events", CORRECTED_EVENTS)
    from_raw = [tuple(r) for r in store.query(raw, parameters | {"campaigns": CAMPAIGNS})]
    # Recounted send days are unsealed: counted from their states, then from new seals.
    same = [_counts(r) for r in open_rates(store, QUERY)] == from_raw
    sealing.seal(store)
    same = same and [_counts(r) for r in open_rates(store, QUERY)] == from_raw
    return marked, keys, len(batch), read, (one, one_cpu), (every, every_cpu), same


def _print_corrections(marked, keys, batch, read, one, every, same) -> None:
    print(f"corrections: {marked:,} events marked security_scanner, in {keys} campaign send days")
    print(f"  recount after one batch ({batch:,} corrections of 1 campaign send day;")
    print(f"    its campaign's {read:,} raw events read), best of 3:")
    print(f"                                  {one[0]:.3f} s wall, {one[1]:.3f} s CPU")
    print(f"  recount of every send day:      {every[0]:.3f} s wall, {every[1]:.3f} s CPU")
    print(f"  report equals raw, corrected:   {same} (before and after sealing again)")
    if not same:
        raise SystemExit("after the recounts the rollup and the corrected raw table disagree")


if __name__ == "__main__":
    main()
