"""Instructions per request, counted by callgrind: a ruler that the machine's noise cannot bend.

Wall-clock rounds on a shared 2-core machine vary by ±15%, more than most single changes
to the request path are worth. ``valgrind --tool=callgrind`` counts the instructions a
process executes, the same on every run. This runs the same ``POST /api/v1/consents`` WSGI
call in one process, N times, for the bare Flask route and for Consentry, and reports
(instructions for 600 requests - instructions for 100) / 500: the request path alone,
without start-up, gunicorn or the shipper. One thread, so every decision commits alone.

Run: ``python -m bench.instructions`` (needs valgrind: ``apt-get install -y valgrind``).
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FEW, MANY = 100, 600
BODY = json.dumps(
    {
        "site": "demo",
        "choices": {"preferences": True, "analytics": False, "marketing": True},
        "lifetime": "persistent",
        "policy_version": "2026-11-01",
        "language": "en",
        "page": "/pricing",
    }
).encode()
HEADERS = {
    "Content-Type": "application/json",
    "Origin": "http://localhost:5173",
    "X-Country-Code": "DE",
}


def serve_requests(target: str, count: int) -> None:
    """In the measured process: build the app and run ``count`` decisions through it."""
    from werkzeug.test import EnvironBuilder

    if target == "bare":
        from bench.bare_app import app
    else:
        from consent import create_app

        app = create_app()
    environ = EnvironBuilder(
        path="/api/v1/consents",
        method="POST",
        data=BODY,
        headers=HEADERS,
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    ).get_environ()
    statuses = []
    for _ in range(count):
        call = dict(environ, **{"wsgi.input": io.BytesIO(BODY)})
        body = app(call, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(body)
        getattr(body, "close", lambda: None)()
    if statuses and not statuses[-1].startswith("201"):
        raise SystemExit(f"{target}: {statuses[-1]}")


def _count(target: str, requests: int, env: dict) -> int:
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            str(BIN / "python"),
            "-m",
            "bench.instructions",
            target,
            str(requests),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(re.search(r"Collected : (\d+)", out.stderr).group(1))


def main() -> None:
    if len(sys.argv) == 3:
        serve_requests(sys.argv[1], int(sys.argv[2]))
        return
    if not shutil.which("valgrind"):
        sys.exit("valgrind is needed: apt-get install -y valgrind")
    work = Path(tempfile.mkdtemp(prefix="consentry-instructions-"))
    env = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(work),
        "CONSENTRY_SECRET_KEYS": "bench-signing-key-0123456789abcdef",
        "PYTHONHASHSEED": "0",  # the same dict layouts on every run
    }
    subprocess.run(
        [str(BIN / "consentry"), "db", "upgrade", "--sql-only"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    # Nothing answers there and the shipper waits an hour between rounds: events stay in
    # the spool, so the count is the request path's (one failed shipping round at start
    # is in both counts and cancels out).
    env |= {"CONSENTRY_CLICKHOUSE_URL": "http://127.0.0.1:9", "CONSENTRY_SHIP_INTERVAL": "3600"}
    per_request = {}
    for target in ("bare", "consentry"):
        few, many = _count(target, FEW, env), _count(target, MANY, env)
        per_request[target] = (many - few) / (MANY - FEW)
    print(f"callgrind, {MANY} - {FEW} requests, one process, one thread")
    print(f"bare Flask JSON route      {per_request['bare']:>12,.0f} instructions/request")
    print(f"POST /api/v1/consents      {per_request['consentry']:>12,.0f} instructions/request")
    print(f"ratio bare / consentry: {per_request['bare'] / per_request['consentry']:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
