"""POST /api/v1/consents under gunicorn, against a bare Flask JSON route served the same way.

Both servers run with gunicorn.conf.py's settings (one gthread worker, 8 threads; the
baseline without Consentry's hooks, through bench/gunicorn_bare.py) and are loaded by the
same wrk, alternating, five rounds each; the report is the median requests/s of each, their
ratio, the median of the per-round ratios, and each server's CPU time per request (utime +
stime of the gunicorn master and workers from /proc, per round). The worker is CPU-bound on
one core (the GIL), so CPU per request is its capacity; unlike requests/s it barely moves
when other processes load the machine. Run: ``python -m bench.consent_api``;
``BENCH_SPOOL_ONLY=1`` serves with an unreachable ClickHouse, so events only go to the spool
(the embedded engine's share); ``BENCH_IDEMPOTENCY=1`` sends each request with its own
``Idempotency-Key``, as the banner does (the baseline ignores the header).
"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.decision import BIN, BODY, HEADERS, ROOT, UNREACHABLE_CLICKHOUSE, fresh_data_dir

DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "16")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SPOOL_ONLY = os.environ.get("BENCH_SPOOL_ONLY") == "1"
IDEMPOTENCY = os.environ.get("BENCH_IDEMPOTENCY") == "1"
# A new key per request: each wrk thread numbers its own, after its number and the time
# it started (a round's keys are never a later round's).
_NEW_KEY_PER_REQUEST = """
local made = 0
function setup(thread)
  made = made + 1
  thread:set("number", made)
end
local prefix, sent = "", 0
function init(args)
  prefix = string.format("bench-%d-%d-", number, os.time())
end
function request()
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = prefix .. sent
  return wrk.format()
end
"""


def _wrk_script() -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = '{json.dumps(BODY)}'"]
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in HEADERS.items()]
    return "\n".join(lines) + "\n" + (_NEW_KEY_PER_REQUEST if IDEMPOTENCY else "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app: str, config: Path, port: int, env: dict) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--config",
            str(config),
            app,
            "--access-logfile",
            "/dev/null",
        ],
        cwd=ROOT,
        env={**env, "PORT": str(port), "HOST": "127.0.0.1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError as e:
            if getattr(e, "code", None) == 404:  # the bare app has no /healthz: it is up
                return server
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"{app} did not start on port {port}")


def cpu_seconds(server: subprocess.Popen) -> float:
    """CPU time (user + system) of a gunicorn master and its workers so far."""
    pids = [server.pid]
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    pids += [int(pid) for pid in children.read_text().split()]
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _wrk(port: int, script: Path, server: subprocess.Popen) -> tuple[float, float]:
    """One wrk round: requests/s and the server's CPU µs per request."""
    cpu_before = cpu_seconds(server)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{DURATION}",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/api/v1/consents",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed requests on port {port}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return rate, (cpu_seconds(server) - cpu_before) / requests * 1e6


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    work, env = fresh_data_dir("consentry-bench-")
    script = work / "post.lua"
    script.write_text(_wrk_script())
    if SPOOL_ONLY:
        # Events stay in the spool, so the run shows what the embedded engine costs when it
        # shares the machine's cores with the web worker.
        env["CONSENTRY_CLICKHOUSE_URL"] = UNREACHABLE_CLICKHOUSE
    consentry_port, bare_port = _free_port(), _free_port()
    servers = []
    try:
        servers.append(_serve("wsgi:app", ROOT / "gunicorn.conf.py", consentry_port, env))
        bare_config = ROOT / "bench" / "gunicorn_bare.py"
        servers.append(_serve("bench.bare_app:app", bare_config, bare_port, env))
        results: dict[str, list[tuple[float, float]]] = {"consentry": [], "bare": []}
        for _ in range(ROUNDS):
            results["bare"].append(_wrk(bare_port, script, servers[1]))
            results["consentry"].append(_wrk(consentry_port, script, servers[0]))
        health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{consentry_port}/healthz"))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)
    mode = "events spooled only (no ClickHouse)" if SPOOL_ONLY else "events shipped to chdb"
    if IDEMPOTENCY:
        mode += ", an Idempotency-Key per request"
    print(
        f"wrk -t2 -c{CONNECTIONS} -d{DURATION}, {ROUNDS} alternating rounds, gunicorn 1x8, {mode}"
    )
    print(f"{'server':<26}{'rounds (req/s)':<34}{'median':>8}{'CPU µs/req':>12}")
    for name, label in (("bare", "bare Flask JSON route"), ("consentry", "POST /api/v1/consents")):
        rates = [r[0] for r in results[name]]
        cpu = statistics.median(r[1] for r in results[name])
        rounds = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{label:<26}{rounds:<34}{statistics.median(rates):>8.0f}{cpu:>12.0f}")
    bare = statistics.median(r[0] for r in results["bare"])
    ours = statistics.median(r[0] for r in results["consentry"])
    # Each round's pair ran back to back, so its ratio is the least touched by the machine
    # drifting faster or slower over the run.
    pairs = list(zip(results["consentry"], results["bare"], strict=True))
    paired = statistics.median(o[0] / b[0] for o, b in pairs)
    print(f"ratio consentry / bare: {ours / bare:.2f} (target >= 0.5)")
    print(f"median of the per-round ratios: {paired:.2f}")
    cpu_ratio = statistics.median(b[1] / o[1] for o, b in pairs)
    print(f"CPU per request, bare / consentry (capacity ratio): {cpu_ratio:.2f}")
    print(f"spool backlog after the run: {health['spool']['backlog_events']} events")
    print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
