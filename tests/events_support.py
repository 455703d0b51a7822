"""Helpers for the events tests: apps on chdb, row counts, server processes, a second site.

Subprocesses run it as ``python -m events_support count|restart …`` with ``tests/`` on
PYTHONPATH; the fixtures live in ``conftest.py``.
"""

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from flask import Flask, request

from events import EventPipeline
from events.cli import events_cli
from events.clickhouse import ClickHouseStore

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "migrations" / "clickhouse"
TESTS_DIR = Path(__file__).resolve().parent

CONFIG = {
    "SPOOL_MAX_BYTES": 64 * 1024 * 1024,
    "SHIP_INTERVAL": 0.05,
    "SHIP_BATCH": 1000,
    "SHUTDOWN_FLUSH_SECONDS": 5.0,
}


def consent_row(site: str = "example.org", **extra) -> dict:
    """Build a realistic consent decision row."""
    return {
        "site": site,
        "kind": "decision",
        "action": "custom",
        "consent_id": uuid.uuid4().hex,
        "granted": ["necessary", "analytics"],
        "denied": ["marketing"],
        "lifetime": "persistent",
        "policy_version": "3",
        "language": "en",
        "region": "EU",
        "region_rule": "gdpr",
        "region_model": "opt-in",
        "dnt": 0,
        "gpc": 1,
        "ua_family": "Firefox",
        "ip_prefix": "203.0.113.0/24",
        "page_origin": f"https://{site}",
        **extra,
    }


def make_app(data_dir: Path | str, clickhouse_url: str, **config) -> Flask:
    """Build a minimal Flask app with an event pipeline and a ``POST /hit`` view."""
    app = Flask(__name__)
    app.config.update(DATA_DIR=str(data_dir), CLICKHOUSE_URL=clickhouse_url, **CONFIG)
    app.config.update(config)
    EventPipeline().init_app(app, schema_dir=SCHEMA_DIR)
    app.cli.add_command(events_cli)

    @app.post("/hit")
    def hit():
        event_id = str(uuid.uuid4())
        row = consent_row(request.args.get("site", "example.org"), event_id=event_id)
        app.extensions["events"].emit("consent_events", row)
        return event_id

    @app.get("/ready")
    def ready():
        return "ok"

    return app


def create_server_app() -> Flask:
    """Build the test app from ``EV_*`` variables (for gunicorn and ``flask`` subprocesses)."""
    env = os.environ
    app = make_app(
        env["EV_DATA_DIR"],
        env["EV_CLICKHOUSE_URL"],
        SHIP_INTERVAL=float(env.get("EV_SHIP_INTERVAL", "0.05")),
        SHIP_BATCH=int(env.get("EV_SHIP_BATCH", "1000")),
    )
    if env.get("EV_UPGRADE"):
        app.extensions["events"].upgrade_schema()
    if env.get("EV_BARRIER"):
        # Lets concurrent shippers begin adopting spools together: see ``barrier``.
        wait_at_barrier(Path(env["EV_BARRIER"]))
    return app


def wait_at_barrier(barrier: Path, timeout: float = 60) -> None:
    """Say this process is ready (``ready-<pid>``), then wait until ``go`` exists."""
    (barrier / f"ready-{os.getpid()}").touch()
    wait_for(lambda: (barrier / "go").exists(), timeout, "the barrier was never opened")


def open_barrier(barrier: Path, parties: int, timeout: float = 60) -> None:
    """Wait until ``parties`` processes wait at ``barrier``, then let them all go."""
    ready = lambda: len(list(barrier.glob("ready-*"))) >= parties  # noqa: E731
    wait_for(ready, timeout, f"{parties} processes never reached the barrier")
    (barrier / "go").touch()


def wait_for(condition, timeout: float, failure: str, pause: float = 0.01) -> None:
    """Poll ``condition`` until it holds; raise TimeoutError with ``failure`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(failure)
        time.sleep(pause)


def chdb_url(path: Path, database: str) -> str:
    """Return the URL of a database in the chdb engine at ``path``."""
    return f"chdb://{path}?database={database}"


def closed_port_url() -> str:
    """Return the URL of a ClickHouse server that is not there."""
    return f"http://127.0.0.1:{free_port()}/events"


def counts(store: ClickHouseStore) -> tuple[int, int]:
    """Return count() and uniqExact(event_id) of consent_events."""
    [(rows, unique)] = store.query("SELECT count(), uniqExact(event_id) FROM consent_events")
    return rows, unique


def event_ids(store: ClickHouseStore) -> list[str]:
    """Return every event_id in consent_events, duplicates included."""
    return [str(r[0]) for r in store.query("SELECT event_id FROM consent_events")]


SHOP_POLICY = "2026-12-01"


def two_sites_file(directory: Path) -> Path:
    """Write a sites file with the bundled ``demo`` site and ``shop``, which differs.

    ``shop``: its own policy version, a year for a consent, no IP prefix stored.
    """
    demo = (ROOT / "consent" / "data" / "sites.toml").read_text()
    shop = (
        demo.replace("[sites.demo", "[sites.shop")
        .replace('name = "Consentry demo"', 'name = "Consentry shop"')
        .replace('policy_version = "2026-11-01"', f'policy_version = "{SHOP_POLICY}"')
        .replace("accept_days = 180", "accept_days = 365")
        .replace("store_ip_prefix = true", "store_ip_prefix = false")
    )
    path = directory / "two_sites.toml"
    path.write_text(demo + "\n" + shop)
    return path


# Server processes -----------------------------------------------------------------------


def subprocess_env(**variables: str) -> dict[str, str]:
    """Return an environment where ``tests/`` and the project are importable."""
    path = os.pathsep.join([str(TESTS_DIR), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **variables}


def free_port() -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(
    data_dir: Path, clickhouse_url: str, workers: int = 1, **env: str
) -> Iterator[subprocess.Popen]:
    """Run the test app under gunicorn in its own process group; yield it, port in ``.port``."""
    port = free_port()
    args = [
        f"--workers={workers}",
        "--threads=4" if workers == 1 else "--threads=1",
        f"--bind=127.0.0.1:{port}",
        "--graceful-timeout=20",
        "events_support:create_server_app()",
    ]
    variables = {"EV_DATA_DIR": str(data_dir), "EV_CLICKHOUSE_URL": clickhouse_url, **env}
    with serve(args, subprocess_env(**variables), TESTS_DIR, port, "/ready") as proc:
        yield proc


@contextlib.contextmanager
def serve(
    args: list[str], env: dict[str, str], cwd: Path, port: int, ready: str
) -> Iterator[subprocess.Popen]:
    """Run ``gunicorn ARGS`` in its own process group until ``ready`` answers 200 on ``port``.

    Yields the process (its port in ``.port``); SIGKILLs the whole group at the end.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *args],
        env=env,
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_ready(port, proc, ready)
        proc.port = port
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()


def _wait_ready(port: int, proc: subprocess.Popen, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            get(port, path)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not become ready")


@contextlib.contextmanager
def service(data_dir: Path, clickhouse_url: str, **env: str) -> Iterator[subprocess.Popen]:
    """Run the real app as ``make run`` does: ``consentry db upgrade``, then gunicorn."""
    port = free_port()
    variables = {
        "CONSENTRY_DATA_DIR": str(data_dir),
        "CONSENTRY_CLICKHOUSE_URL": clickhouse_url,
        "CONSENTRY_SECRET_KEYS": "reconcile-test-key-0123456789",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **env,
    }
    environment = subprocess_env(**variables)
    consentry = Path(sys.executable).parent / "consentry"
    subprocess.run(
        [str(consentry), "db", "upgrade"],
        env=environment,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with serve(
        ["--config", "gunicorn.conf.py", "wsgi:app"], environment, ROOT, port, "/healthz"
    ) as proc:
        yield proc


def request_json(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """Send one JSON request on a new connection; return the status and the JSON answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, payload, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def get(port: int, path: str, method: str = "GET") -> str:
    """Send one request on a new connection; return the body of a 200 response."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        body = response.read().decode()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {body[:200]}")
        return body
    finally:
        conn.close()


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a server and all its workers at once."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_helper(*args: str, timeout: float = 60) -> dict:
    """Run ``python -m events_support …`` in a fresh process; return its JSON output."""
    out = subprocess.run(
        [sys.executable, "-m", "events_support", *args],
        env=subprocess_env(),
        cwd=TESTS_DIR,
        capture_output=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def _main(argv: list[str]) -> None:
    command, *args = argv
    if command == "count":
        # The engine path is opened here, after whoever wrote it is dead.
        [url] = args
        store = ClickHouseStore(url)
        result = {"ids": event_ids(store)}
        store.close()
    elif command == "restart":
        # A new start on a dead server's data dir: replay leftovers, then ship everything.
        data_dir, url = args
        pipeline = make_app(data_dir, url).extensions["events"]
        pipeline.upgrade_schema()
        pipeline.start()
        shipped = pipeline.flush(30)
        pipeline.stop(timeout=5)
        result = {
            "flushed": shipped,
            "shipped": pipeline.shipped_events,
            "ids": event_ids(pipeline.clickhouse),
        }
        pipeline.clickhouse.close()
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])
