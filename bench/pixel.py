"""GET /o/<token>.gif under gunicorn (a valid token: an open checked, classified, spooled),
against a bare Flask route answering the same GIF with the same headers.

Both servers run with gunicorn.conf.py's settings (one gthread worker, 8 threads; the
baseline through bench/gunicorn_bare.py, without Consentry's hooks) and are loaded by the
same wrk, alternating, five rounds each. wrk walks through the pixels of 1,000 messages
minted through the API beforehand (one campaign, individual mode, a browser UA), so each
hit reads a different recipient's consent. The report: the median requests/s of each
server, their ratio, the median of the per-round ratios, the median p99 latency, and
how many opens reached email_events. Run: ``python -m bench.pixel``.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import urllib.request
from pathlib import Path

from bench.consent_api import _free_port, _serve
from bench.decision import BIN, ROOT, fresh_data_dir
from events.clickhouse import ClickHouseStore

DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "16")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
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


def _wrk(port: int, script: Path) -> tuple[float, float, int]:
    """One wrk round: requests/s, p99 latency in ms, requests made."""
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
    return rate, p99, requests


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    work, env = fresh_data_dir("consentry-bench-pixel-")
    # Individual mode: every hit names its recipient, whose consent is read at hit time.
    env["CONSENTRY_EMAIL_TRACKING_CONSENT"] = "not_required"
    key = _api_key(env)
    consentry_port, bare_port = _free_port(), _free_port()
    servers = []
    results: dict[str, list[tuple[float, float, int]]] = {"consentry": [], "bare": []}
    try:
        servers.append(_serve("wsgi:app", ROOT / "gunicorn.conf.py", consentry_port, env))
        bare_config = ROOT / "bench" / "gunicorn_bare.py"
        servers.append(_serve("bench.bare_app:app", bare_config, bare_port, env))
        script = work / "pixels.lua"
        script.write_text(_wrk_script(_mint(consentry_port, key)))
        for _ in range(ROUNDS):
            results["bare"].append(_wrk(bare_port, script))
            results["consentry"].append(_wrk(consentry_port, script))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)
    # The worker flushed its spool on the way out; what is left ships at the next start.
    store = ClickHouseStore(f"chdb://{work / 'data' / 'clickhouse'}")
    [(opens,)] = store.query("SELECT count() FROM email_events WHERE kind = 'open'")
    store.close()
    _report(results, opens)
    shutil.rmtree(work, ignore_errors=True)


def _report(results: dict[str, list[tuple[float, float, int]]], opens: int) -> None:
    print(f"wrk -t2 -c{CONNECTIONS} -d{DURATION}, {ROUNDS} alternating rounds, gunicorn 1x8")
    print(f"{'server':<30}{'rounds (req/s)':<36}{'median':>8}{'p99 ms':>9}")
    labels = {"bare": "bare Flask GIF route", "consentry": "GET /o/<token>.gif"}
    for name, label in labels.items():
        rates = [r for r, _, _ in results[name]]
        p99 = statistics.median(p for _, p, _ in results[name])
        rounds = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{label:<30}{rounds:<36}{statistics.median(rates):>8.0f}{p99:>9.1f}")
    ours = statistics.median(r for r, _, _ in results["consentry"])
    bare = statistics.median(r for r, _, _ in results["bare"])
    pairs = zip(results["consentry"], results["bare"], strict=True)
    paired = statistics.median(o[0] / b[0] for o, b in pairs)
    print(f"ratio pixel / bare: {ours / bare:.2f} (target >= 0.8)")
    print(f"median of the per-round ratios: {paired:.2f}")
    made = sum(n for _, _, n in results["consentry"])
    print(f"opens in email_events: {opens} of {made} requests wrk counted")


if __name__ == "__main__":
    main()
