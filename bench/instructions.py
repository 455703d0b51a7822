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
import re
import shutil
import subprocess
import sys

from bench.decision import BIN, BODY, HEADERS, ROOT, UNREACHABLE_CLICKHOUSE, fresh_data_dir

FEW, MANY = 100, 600


def serve_requests(target: str, count: int) -> None:
    """In the measured process: build the app and run ``count`` decisions through it."""
    from werkzeug.test import EnvironBuilder

    if target == "bare":
        from bench.bare_app import app
    else:
        from consentry import create_app

        app = create_app()
    body = json.dumps(BODY).encode()
    environ = EnvironBuilder(
        path="/api/v1/consents",
        method="POST",
        data=body,
        headers=HEADERS,
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    ).get_environ()
    statuses = []
    for _ in range(count):
        call = dict(environ, **{"wsgi.input": io.BytesIO(body)})
        answer = app(call, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(answer)
        getattr(answer, "close", lambda: None)()
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
    work, env = fresh_data_dir("consentry-instructions-", "--sql-only")
    # Events stay in the spool and the shipper waits an hour between rounds, so the count
    # is the request path's; the same dict layouts on every run.
    env |= {
        "CONSENTRY_CLICKHOUSE_URL": UNREACHABLE_CLICKHOUSE,
        "CONSENTRY_SHIP_INTERVAL": "3600",
        "PYTHONHASHSEED": "0",
    }
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
