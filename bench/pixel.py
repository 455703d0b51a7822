"""GET /o/<token>.gif under gunicorn (a valid token: an open checked, classified, spooled),
against a bare Flask route answering the same GIF with the same headers.

Both servers run with gunicorn.conf.py's settings (one gthread worker, 8 threads; the
baseline through bench/gunicorn_bare.py, without Consentry's hooks) and are loaded by the
same wrk, alternating, five rounds each. wrk walks through the pixels of 1,000 messages
minted through the API beforehand (one campaign, individual mode, a browser UA), so each
hit reads a different recipient's consent. The report: the median requests/s of each
server, their ratio, the median of the per-round ratios, the median p99 latency, the CPU
each server spent per request (from /proc: the machine's other load moves it little) and
how many opens reached email_events. Run: ``python -m bench.pixel``;
``BENCH_SPOOL_ONLY=1`` serves with an unreachable ClickHouse (events only spooled).

``python -m bench.pixel --in-process`` measures the request path alone: CPU time
(``time.process_time``) per WSGI call in one process and one thread, without gunicorn or
the shipper, for the bare route, the pixel through the fast lane and through Flask
(``CONSENTRY_FAST_LANE=false``), and an invalid token; five interleaved rounds, medians.
"""

import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.consent_api import _free_port, _serve, cpu_seconds
from bench.decision import BIN, ROOT, UNREACHABLE_CLICKHOUSE, fresh_data_dir
from events.clickhouse import ClickHouseStore

DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "16")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SPOOL_ONLY = os.environ.get("BENCH_SPOOL_ONLY") == "1"
MESSAGES = 1000
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)


def _api_key(env: dict) -> str:
    out = subprocess.run(
        [str(BIN / "consentry"), "keys", "create", "bench"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


def _mint(port: int, key: str) -> list[str]:
    """Mint one campaign's messages; return the paths of their pixels."""
    body = {
        "campaign": "bench",
        "recipients": [
            {"recipient": f"r{i}", "email": f"r{i}@example.com"} for i in range(MESSAGES)
        ],
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/messages/batch",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    answer = json.load(urllib.request.urlopen(request, timeout=60))  # noqa: S310 (http://127.0.0.1)
    urls = [m["pixel_url"] for m in answer["messages"]]
    assert all(urls), "every message must be individually tracked"
    return [re.sub(r"^https?://[^/]+", "", url) for url in urls]


def _wrk_script(paths: list[str]) -> str:
    quoted = ",\n".join(f'  "{p}"' for p in paths)
    return (
        f'wrk.headers["User-Agent"] = "{USER_AGENT}"\n'
        f"local paths = {{\n{quoted}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\n'
        "end\n"
    )


def _wrk(port: int, script: Path, server: subprocess.Popen) -> tuple[float, float, int, float]:
    """One wrk round: requests/s, p99 latency in ms, requests made, CPU µs per request."""
    cpu_before = cpu_seconds(server)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{DURATION}",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed requests on port {port}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    cpu = (cpu_seconds(server) - cpu_before) / requests * 1e6
    return rate, p99, requests, cpu


def _minted_paths(app) -> list[str]:
    from core.keys import create_key

    with app.app_context():
        key = create_key("bench")
    body = {
        "campaign": "bench",
        "recipients": [
            {"recipient": f"r{i}", "email": f"r{i}@example.com"} for i in range(MESSAGES)
        ],
    }
    answer = app.test_client().post(
        "/api/v1/messages/batch", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    return [re.sub(r"^https?://[^/]+", "", m["pixel_url"]) for m in answer.get_json()["messages"]]


def _cpu_per_call(app, environs: list[dict], calls: int) -> float:
    """CPU µs per WSGI call of ``app`` over ``environs`` in turn (every answer a 200)."""
    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    started = time.process_time()
    for i in range(calls):
        answer = app(dict(environs[i % len(environs)]), start_response)
        b"".join(answer)
        getattr(answer, "close", lambda: None)()
    spent = time.process_time() - started
    if set(statuses) != {"200 OK"}:
        raise RuntimeError(f"not every answer was 200 OK: {set(statuses)}")
    return spent / calls * 1e6


def in_process(calls: int = 5000, rounds: int = 5) -> None:
    """CPU per request of the request path alone: one process, one thread, no gunicorn."""
    from werkzeug.test import EnvironBuilder

    from bench.bare_app import app as bare
    from consentry import create_app

    work, env = fresh_data_dir("consentry-bench-pixel-cpu-", "--sql-only")
    os.environ.update(env)
    # Events stay in the spool and the shipper waits: the request path's CPU alone.
    os.environ["CONSENTRY_CLICKHOUSE_URL"] = UNREACHABLE_CLICKHOUSE
    os.environ["CONSENTRY_SHIP_INTERVAL"] = "3600"
    os.environ["CONSENTRY_EMAIL_TRACKING_CONSENT"] = "not_required"
    logging.disable(logging.WARNING)  # the shipper's complaints about ClickHouse
    lane = create_app()
    flask_only = create_app({"FAST_LANE": False})

    def environs(paths: list[str]) -> list[dict]:
        return [
            EnvironBuilder(
                path=path,
                headers={"User-Agent": USER_AGENT},
                environ_base={"REMOTE_ADDR": "127.0.0.1"},
            ).get_environ()
            for path in paths
        ]

    valid = environs(_minted_paths(lane))
    invalid = environs(["/o/not-a-token.gif"])
    targets = {
        "bare Flask GIF route": (bare, valid),
        "GET /o/ (fast lane)": (lane, valid),
        "GET /o/ (through Flask)": (flask_only, valid),
        "invalid token (fast lane)": (lane, invalid),
    }
    for app, sample in targets.values():
        _cpu_per_call(app, sample, calls // 5)  # warm: caches, connections, code paths
    spent: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, (app, sample) in targets.items():
            spent[name].append(_cpu_per_call(app, sample, calls))
    print(f"in process, one thread, {rounds} rounds of {calls} WSGI calls: CPU µs per call")
    for name, values in spent.items():
        rounds_text = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:<28}{statistics.median(values):>8.1f}   ({rounds_text})")
    bare_cpu = statistics.median(spent["bare Flask GIF route"])
    for name in ("GET /o/ (fast lane)", "GET /o/ (through Flask)"):
        print(f"bare / {name}: {bare_cpu / statistics.median(spent[name]):.2f}")
    print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for app in (lane, flask_only):
        app.extensions["events"].stop(timeout=0.5)
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if "--in-process" in sys.argv[1:]:
        in_process()
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    work, env = fresh_data_dir("consentry-bench-pixel-")
    # Individual mode: every hit names its recipient, whose consent is read at hit time.
    env["CONSENTRY_EMAIL_TRACKING_CONSENT"] = "not_required"
    key = _api_key(env)
    if SPOOL_ONLY:
        # Events stay in the spool: the run shows what the embedded engine's inserts and
        # merges cost the web worker they share a process with.
        env["CONSENTRY_CLICKHOUSE_URL"] = UNREACHABLE_CLICKHOUSE
    consentry_port, bare_port = _free_port(), _free_port()
    servers = []
    results: dict[str, list[tuple[float, float, int, float]]] = {"consentry": [], "bare": []}
    try:
        servers.append(_serve("wsgi:app", ROOT / "gunicorn.conf.py", consentry_port, env))
        bare_config = ROOT / "bench" / "gunicorn_bare.py"
        servers.append(_serve("bench.bare_app:app", bare_config, bare_port, env))
        script = work / "pixels.lua"
        script.write_text(_wrk_script(_mint(consentry_port, key)))
        for _ in range(ROUNDS):
            results["bare"].append(_wrk(bare_port, script, servers[1]))
            results["consentry"].append(_wrk(consentry_port, script, servers[0]))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)
    opens = -1
    if not SPOOL_ONLY:
        # The worker flushed its spool on the way out; what is left ships at the next start.
        store = ClickHouseStore(f"chdb://{work / 'data' / 'clickhouse'}")
        [(opens,)] = store.query("SELECT count() FROM email_events WHERE kind = 'open'")
        store.close()
    _report(results, opens)
    shutil.rmtree(work, ignore_errors=True)


def _report(results: dict[str, list[tuple[float, float, int, float]]], opens: int) -> None:
    print(f"wrk -t2 -c{CONNECTIONS} -d{DURATION}, {ROUNDS} alternating rounds, gunicorn 1x8")
    print(f"{'server':<24}{'rounds (req/s)':<34}{'median':>8}{'p99 ms':>9}{'CPU µs/req':>12}")
    labels = {"bare": "bare Flask GIF route", "consentry": "GET /o/<token>.gif"}
    for name, label in labels.items():
        rates = [r[0] for r in results[name]]
        p99 = statistics.median(r[1] for r in results[name])
        cpu = statistics.median(r[3] for r in results[name])
        rounds = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{label:<24}{rounds:<34}{statistics.median(rates):>8.0f}{p99:>9.1f}{cpu:>12.0f}")
    ours = statistics.median(r[0] for r in results["consentry"])
    bare = statistics.median(r[0] for r in results["bare"])
    pairs = list(zip(results["consentry"], results["bare"], strict=True))
    paired = statistics.median(o[0] / b[0] for o, b in pairs)
    print(f"ratio pixel / bare: {ours / bare:.2f} (target >= 0.8)")
    print(f"median of the per-round ratios: {paired:.2f}")
    # The server is CPU-bound on one core (the GIL): CPU per request is its capacity, and
    # unlike requests/s it barely moves when other processes load the machine.
    cpu_ratio = statistics.median(b[3] / o[3] for o, b in pairs)
    print(f"CPU per request, bare / pixel (capacity ratio): {cpu_ratio:.2f}")
    made = sum(r[2] for r in results["consentry"])
    print(f"opens in email_events: {opens} of {made} requests wrk counted")
    print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
