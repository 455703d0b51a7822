"""``GET /healthz``: the SQL store, ClickHouse and the event spool, for operators and probes."""

from typing import Literal

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from core.db import db
from core.openapi import Op

bp = Blueprint("health", __name__)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class StoreHealth(_Out):
    ok: bool
    error: str | None


class SpoolHealth(_Out):
    backlog_bytes: int
    backlog_events: int
    spools: int
    last_shipped_at: str | None
    last_error: str | None


class HealthOut(_Out):
    status: Literal["ok", "degraded", "down"]
    sql: StoreHealth
    clickhouse: StoreHealth
    spool: SpoolHealth


OPERATIONS = [
    Op("get", "/healthz", "Health of SQL, ClickHouse and the spool",
       "200 while SQL works (status `degraded` if ClickHouse is down: events wait in the "
       "spool); 503 when SQL is down.",
       answer=HealthOut, also={503: "The SQL store does not answer (`status` is `down`)"}),
]  # fmt: skip


@bp.get("/healthz")
def healthz():
    """Report SQL, ClickHouse and the spool backlog.

    503 only when SQL is down: without ClickHouse, events wait in the spool and the
    service still works, so it reports "degraded" with 200.
    """
    try:
        db.session.execute(text("SELECT 1"))
        sql = {"ok": True, "error": None}
    except Exception as e:  # any failure means "not healthy", reported with its reason
        db.session.rollback()
        sql = {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
    pipeline = current_app.extensions["events"].health()
    status = "ok" if sql["ok"] and pipeline["clickhouse"]["ok"] else "degraded"
    body = {"status": status if sql["ok"] else "down", "sql": sql, **pipeline}
    return jsonify(body), 200 if sql["ok"] else 503
