"""Gunicorn settings for Consentry (``gunicorn --config gunicorn.conf.py wsgi:app``).

The embedded ClickHouse engine (chdb) lets one process own its data path, so with a
``chdb://`` URL there is exactly one worker, with threads. With a ClickHouse server URL,
set WEB_CONCURRENCY for more workers: each keeps its own spool, and a live worker adopts
and ships the spool of a dead one.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
worker_class = "gthread"
# Longer than the shutdown flush deadline, so a worker can ship its spool before it exits.
graceful_timeout = 30
accesslog = "-"


def on_starting(server):
    """Refuse several workers on the embedded engine before any of them starts."""
    url = os.environ.get("CONSENTRY_CLICKHOUSE_URL", "chdb:")
    if url.startswith("chdb:") and server.cfg.workers > 1:
        raise SystemExit(
            "The embedded ClickHouse engine (chdb) allows one process per data path: "
            "use WEB_CONCURRENCY=1, or set CONSENTRY_CLICKHOUSE_URL to a ClickHouse server."
        )


def post_worker_init(worker):
    """Start the event shipper in the worker: it replays and adopts leftover spools first."""
    worker.wsgi.extensions["events"].start()


def worker_exit(server, worker):
    """Ship what the spool holds within the deadline; the rest waits for the next start."""
    worker.wsgi.extensions["events"].stop()
