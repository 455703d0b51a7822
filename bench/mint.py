"""Batch minting: POST /api/v1/messages/batch with 10,000 recipients, in messages per second.

In process (Flask's test client: no socket, the whole view and both stores), alternating with
a bare Flask route that parses the same body and answers a document of the same size and
shape (no SQL, no signing, no events): the ratio is what minting costs on top of moving the
JSON. Each round mints one campaign to 10,000 new recipients, then a second campaign to the
same recipients (the usual case: a list mailed again). The recipients mix tracking states:
every tenth has granted tracking, every twentieth denied it, every fiftieth is unsubscribed.

SQLite in a fresh data dir (synchronous=FULL, as served); PostgreSQL too when
``CONSENTRY_TEST_DATABASE_URL`` is set (in a scratch schema, dropped afterwards). Events go
to the spool and are shipped to the embedded chdb by the shipper thread, as in production.
Run: ``python -m bench.mint``; ``BENCH_ROUNDS`` (default 5), ``BENCH_BATCH`` (10000).
"""

import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import orjson
import sqlalchemy as sa
from flask import Flask, request
from flask_migrate import upgrade

from consentry import create_app
from core.db import db
from core.keys import create_key
from pixel.models import Suppression

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
BATCH = int(os.environ.get("BENCH_BATCH", "10000"))
PG_URL = os.environ.get("CONSENTRY_TEST_DATABASE_URL")
# What one answer looks like, for the baseline to send the same bytes.
_URL = "http://127.0.0.1:8000/u/" + "x" * 74
_ANSWER = {
    "message_id": "0" * 32,
    "tracking": "aggregate",
    "suppressed": False,
    "pixel_url": "http://127.0.0.1:8000/o/" + "x" * 74 + ".gif",
    "pixel_html": "<img>" * 40,
    "unsubscribe_url": _URL,
    "headers": {
        "List-Unsubscribe": f"<{_URL}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": "<news.demo.127.0.0.1>",
    },
}


def _bare_app() -> Flask:
    app = Flask(__name__)

    @app.post("/api/v1/messages/batch")
    def echo():
        body = orjson.loads(request.get_data())
        answers = [_ANSWER | {"recipient": r["recipient"]} for r in body["recipients"]]
        return app.response_class(orjson.dumps({"messages": answers}), status=201)

    return app


def _body(campaign: str, prefix: str) -> bytes:
    recipients = [
        {"recipient": f"{prefix}-{n}", "email": f"person{n}@{prefix}.example.com"}
        for n in range(BATCH)
    ]
    return orjson.dumps({"campaign": campaign, "list": "news", "recipients": recipients})


def _prepare(app: Flask, client, auth: dict, prefix: str) -> None:
    """Give some of a round's recipients a tracking state, as a real list has."""
    now = datetime.now(UTC)
    for n in range(0, BATCH, 10):
        state = "denied" if n % 20 == 0 else "granted"
        client.post(
            f"/api/v1/recipients/{prefix}-{n}/tracking", json={"consent": state}, headers=auth
        )
    with app.app_context():
        rows = [
            {
                "site": "demo",
                "kind": "unsubscribe",
                "list": "*",
                "recipient": f"{prefix}-{n}",
                "method": "one_click",
                "created_at": now,
            }
            for n in range(5, BATCH, 50)
        ]
        db.session.execute(sa.insert(Suppression), rows)
        db.session.commit()


def _timed(client, body: bytes, headers: dict) -> tuple[float, float]:
    """Wall seconds and the request thread's CPU seconds (the test client runs the view here)."""
    started, cpu = time.perf_counter(), time.thread_time()
    response = client.post("/api/v1/messages/batch", data=body, headers=headers)
    elapsed, used = time.perf_counter() - started, time.thread_time() - cpu
    if response.status_code != 201:
        raise RuntimeError(f"{response.status_code}: {response.get_data()[:300]!r}")
    return elapsed, used


def run(database: str, database_url: str | None) -> None:
    data_dir = tempfile.mkdtemp(prefix="consentry-bench-mint-")
    config = {"DATA_DIR": data_dir, "SECRET_KEYS": ["bench-signing-key-0123456789abcdef"]}
    if database_url:
        config["DATABASE_URL"] = database_url
    app = create_app(config)
    with app.app_context():
        upgrade()
        app.extensions["events"].upgrade_schema()
        key = create_key("bench")
    client, bare = app.test_client(), _bare_app().test_client()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    times: dict[str, list[tuple[float, float]]] = {"bare": [], "new": [], "known": []}
    for round_ in range(ROUNDS):
        prefix = f"r{round_}"
        first, second = _body("first", prefix), _body("second", prefix)
        times["bare"].append(_timed(bare, first, headers))
        # The tracking states go in before the first campaign: they are part of no timing.
        _prepare(app, client, headers, prefix)
        times["new"].append(_timed(client, first, headers))
        times["known"].append(_timed(client, second, headers))
    pipeline = app.extensions["events"]
    pipeline.flush(timeout=60)
    pipeline.stop(timeout=5)
    with app.app_context():
        db.engine.dispose()

    def rate(name: str, which: int = 0) -> float:
        return BATCH / statistics.median(t[which] for t in times[name])

    print(f"\n{database}: {ROUNDS} rounds of {BATCH:,} recipients, in process")
    print(f"{'request':<44}{'rounds (messages/s, wall)':<30}{'median':>8}{'per CPU s':>12}")
    labels = {
        "bare": "bare Flask route (parse + same-size answer)",
        "new": "batch to new recipients",
        "known": "batch to known recipients",
    }
    for name, label in labels.items():
        rounds = ", ".join(f"{BATCH / t[0]:.0f}" for t in times[name])
        print(f"{label:<44}{rounds:<30}{rate(name):>8.0f}{rate(name, 1):>12.0f}")
    for name in ("new", "known"):
        share = rate(name) / rate("bare")
        print(
            f"{name}: {rate(name):,.0f} messages/s (target >= 5,000); moving the JSON in and "
            f"out is {share:.0%} of the time"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    run("SQLite", None)
    if PG_URL:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            options = quote(f"options=-csearch_path={schema}", safe="=&")
            run("PostgreSQL", url + ("&" if "?" in url else "?") + options)
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
