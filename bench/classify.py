"""Benchmark one hit's classification: an unseen User-Agent against a cached one.

Run with ``python -m bench.classify [--hits N] [--rounds R]``. The hits cycle through the
real User-Agents of ``tests/data/user_agents.toml`` with their addresses and timings.
Uncached: each UA carries a suffix no earlier hit had, so every call parses (what the
first hit of a new mail client costs). Cached: the same UAs again, warm (what the pixel
endpoint pays on nearly every hit). The burst tracker's ``observe`` is timed on top of a
cached classification, over a stream of 1,000 messages. Medians of the rounds, in µs of
CPU time.
"""

import argparse
import itertools
import platform
import statistics
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import user_agents

from pixel.bursts import BurstTracker, Click
from pixel.classify import Hit, HitKind, classify_agent

TABLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "user_agents.toml"


def table_hits() -> list[Hit]:
    """Return one hit per row of the test table (long rows padded as the tests pad them)."""
    hits = []
    for row in tomllib.loads(TABLE.read_text())["agents"]:
        ua = row["ua"].ljust(row.get("pad_to", 0), row["ua"][-1:] or " ")
        kind = HitKind(row.get("kind", "open"))
        seconds = row.get("seconds", 3600.0)
        hits.append(Hit(row.get("method", "GET"), ua, row.get("ip"), seconds, kind))
    return hits


def per_hit_us(run: Callable[[int], None], count: int) -> float:
    # CPU time of this process: what other processes on a busy machine take does not count.
    start = time.process_time()
    run(count)
    return (time.process_time() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    hits = table_hits()
    fresh = itertools.count()

    def uncached(count: int) -> None:
        for hit in itertools.islice(itertools.cycle(hits), count):
            unseen = f"{hit.user_agent} r{next(fresh)}" if hit.user_agent else f"r{next(fresh)}"
            classify_agent(Hit(hit.method, unseen, hit.client_ip, hit.seconds_since_send, hit.kind))

    def cached(count: int) -> None:
        for hit in itertools.islice(itertools.cycle(hits), count):
            classify_agent(hit)

    tracker = BurstTracker()
    messages = itertools.cycle(f"m{n}" for n in range(1000))

    def with_bursts(count: int) -> None:
        for n, hit in enumerate(itertools.islice(itertools.cycle(hits), count)):
            click = Click(f"l{n % 5}", 5) if hit.kind == HitKind.CLICK else None
            tracker.observe(next(messages), f"e{n}", hit, classify_agent(hit), click)

    cached(len(hits))  # warm the cache
    rows: dict[str, list[float]] = {"uncached": [], "cached": [], "cached + bursts": []}
    for _ in range(args.rounds):
        rows["uncached"].append(per_hit_us(uncached, args.hits // 4))
        rows["cached"].append(per_hit_us(cached, args.hits))
        rows["cached + bursts"].append(per_hit_us(with_bursts, args.hits))
    print(
        f"python {platform.python_version()}, "
        f"user-agents {'.'.join(map(str, user_agents.VERSION))}, "
        f"{len(hits)} table UAs, {args.rounds} rounds"
    )
    medians = {name: statistics.median(values) for name, values in rows.items()}
    for name, median in medians.items():
        spread = f"{min(rows[name]):.2f} to {max(rows[name]):.2f}"
        print(f"{name:>16}: {median:8.2f} µs per hit  (rounds: {spread})")
    print(f"{'ratio':>16}: uncached / cached = {medians['uncached'] / medians['cached']:.0f}x")


if __name__ == "__main__":
    main()
