"""Benchmark the event shipper against a bare ``raw_insert`` of the same bytes.

Run with ``python -m bench.shipper [--events N] [--runs R]``. Each run spools N realistic
consent events through ``Pipeline.emit`` (ClickHouse unreachable, so nothing ships), then
a second pipeline on the embedded chdb engine adopts and drains the spool. The baseline
inserts the very same JSON lines, in the same batch sizes, with ``raw_insert`` straight
into a fresh table of the same engine. The ratio says what the spool costs on top.
"""

import argparse
import logging
import os
import platform
import random
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import chdb
import clickhouse_connect

from events import Pipeline
from events.clickhouse import ClickHouseStore
from events.schema import upgrade
from events.spool import segment_path, segment_seqs, spool_dirs

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "migrations" / "clickhouse"
BATCH = 10_000

SITES = [f"shop{i}.example" for i in range(20)]
CATEGORIES = ["analytics", "marketing", "personalization", "functional"]
ACTIONS = ["accept_all", "reject_all", "custom", "withdraw", "gpc", "dnt"]
UA_FAMILIES = ["Chrome", "Firefox", "Safari", "Edge", "Samsung Internet"]


def consent_event(rng: random.Random) -> dict:
    """Build one impression or decision row shaped like the consent API's."""
    decision = rng.random() < 0.4
    granted = [c for c in CATEGORIES if decision and rng.random() < 0.5]
    return {
        "site": rng.choice(SITES),
        "kind": "decision" if decision else "impression",
        "action": rng.choice(ACTIONS) if decision else "",
        "consent_id": uuid.UUID(int=rng.getrandbits(128)).hex if decision else "",
        "granted": ["necessary", *granted],
        "denied": [c for c in CATEGORIES if decision and c not in granted],
        "lifetime": "persistent",
        "policy_version": "2026-01",
        "language": rng.choice(["en", "de", "fr", "nl"]),
        "region": rng.choice(["EU", "US-CA", "UK", "other"]),
        "region_rule": "gdpr",
        "region_model": "opt-in",
        "dnt": int(rng.random() < 0.1),
        "gpc": int(rng.random() < 0.05),
        "ua_family": rng.choice(UA_FAMILIES),
        "ip_prefix": f"198.51.{rng.randrange(256)}.0/24",
        "page_origin": f"https://{rng.choice(SITES)}",
    }


def closed_port_url() -> str:
    """Return a URL where no ClickHouse listens, so a pipeline can only spool."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/bench"


def spool_events(data_dir: Path, rows: list[dict]) -> float:
    """Emit every row into a fresh spool; return the emit cost in microseconds per event."""
    pipeline = Pipeline(data_dir, closed_port_url(), schema_dir=SCHEMA_DIR, batch=BATCH)
    pipeline.start()
    started = time.perf_counter()
    for row in rows:
        pipeline.emit("consent_events", row)
    elapsed = time.perf_counter() - started
    pipeline.stop(timeout=0)
    return elapsed / len(rows) * 1e6


def spooled_batches(data_dir: Path) -> list[bytes]:
    """Read the spooled JSON lines back, without table names, in the shipper's batches.

    The shipper's batches never span segments, so each segment ends with a shorter one.
    """
    batches = []
    for directory in spool_dirs(data_dir / "spool"):
        for seq in segment_seqs(directory):
            data = segment_path(directory, seq).read_bytes()
            lines = [line.partition(b"\t")[2] for line in data.split(b"\n")[:-1]]
            for i in range(0, len(lines), BATCH):
                batches.append(b"\n".join(lines[i : i + BATCH]) + b"\n")
    return batches


def drain(data_dir: Path, url: str) -> float:
    """Ship the whole spool with a new pipeline; return events per second."""
    pipeline = Pipeline(data_dir, url, schema_dir=SCHEMA_DIR, batch=BATCH)
    pipeline.upgrade_schema()  # also opens the engine, which is not what is measured
    started = time.perf_counter()
    if not pipeline.flush(600):
        raise RuntimeError(f"the drain did not finish: {pipeline.health()['spool']}")
    elapsed = time.perf_counter() - started
    shipped = pipeline.shipped_events
    pipeline.stop(timeout=0)
    return shipped / elapsed


def bare_insert(url: str, batches: list[bytes]) -> float:
    """Insert the batches with raw_insert alone; return events per second."""
    store = ClickHouseStore(url)
    upgrade(store, SCHEMA_DIR)
    store.close()
    base, database = url.split("?database=")
    client = clickhouse_connect.get_client(dsn=base, database=database)
    settings = {"input_format_skip_unknown_fields": 0, "date_time_input_format": "best_effort"}
    events = sum(batch.count(b"\n") for batch in batches)
    started = time.perf_counter()
    for i, batch in enumerate(batches):
        client.raw_insert(
            "consent_events",
            None,
            insert_block=batch,
            fmt="JSONEachRow",
            settings={**settings, "async_insert": 0, "insert_deduplication_token": f"bare/{i}"},
        )
    elapsed = time.perf_counter() - started
    client.close()
    return events / elapsed


def count(url: str) -> int:
    """Return the number of rows in consent_events."""
    store = ClickHouseStore(url)
    [(rows,)] = store.query("SELECT count() FROM consent_events")
    store.close()
    return rows


def drop_databases(engine: Path, names: list[str]) -> None:
    """Drop a run's databases so their background merges do not slow the next run."""
    client = clickhouse_connect.get_client(dsn=f"chdb://{engine}")
    for name in names:
        client.command(f"DROP DATABASE {name} SYNC")
    client.close()


def main() -> None:
    """Run the benchmark and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # Spooling runs against an unreachable server on purpose: its retry logs are expected.
    logging.disable(logging.ERROR)
    rng = random.Random(7)
    rows = [consent_event(rng) for _ in range(args.events)]

    emit_us, bare, shipper = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-shipper-") as tmp:
        engine = Path(tmp) / "clickhouse"
        for run in range(args.runs):
            data_dir = Path(tmp) / f"run{run}"
            emit_us.append(spool_events(data_dir, rows))
            batches = spooled_batches(data_dir)
            spool_bytes = sum(len(batch) for batch in batches)
            bare_url = f"chdb://{engine}?database=bare{run}"
            ship_url = f"chdb://{engine}?database=ship{run}"
            # Alternate the order so neither side always runs behind the other's merges.
            if run % 2:
                shipper.append(drain(data_dir, ship_url))
                bare.append(bare_insert(bare_url, batches))
            else:
                bare.append(bare_insert(bare_url, batches))
                shipper.append(drain(data_dir, ship_url))
            if count(ship_url) != args.events or count(bare_url) != args.events:
                raise RuntimeError("the row counts do not match the events spooled")
            drop_databases(engine, [f"bare{run}", f"ship{run}"])
            print(f"run {run + 1} of {args.runs} done", flush=True)

    ratios = [s / b for s, b in zip(shipper, bare, strict=True)]
    print()
    print(
        f"shipper benchmark: {args.events:,} consent events per run, {len(batches)} batches "
        f"of up to {BATCH:,} (shorter at segment ends), {args.runs} runs"
    )
    print(
        f"python {platform.python_version()}, chdb {chdb.__version__}, "
        f"clickhouse-connect {clickhouse_connect.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {spool_bytes / args.events:.0f} JSON bytes per event"
    )
    print()
    table = [
        ("emit() per event, µs (request path)", emit_us, "{:,.2f}"),
        ("bare raw_insert, events/s (baseline)", bare, "{:,.0f}"),
        ("shipper drain, events/s", shipper, "{:,.0f}"),
        ("ratio shipper / bare", ratios, "{:.2f}"),
    ]
    header = "".join(f"{f'run {i + 1}':>11}" for i in range(args.runs))
    print(f"{'measure':<38}{header}{'median':>11}")
    for label, values, fmt in table:
        cells = "".join(f"{fmt.format(v):>11}" for v in values)
        print(f"{label:<38}{cells}{fmt.format(statistics.median(values)):>11}")
    verdict = "met" if statistics.median(shipper) >= 100_000 else "missed"
    print(f"\ntarget: shipper >= 100,000 events/s: {verdict}")


if __name__ == "__main__":
    main()
