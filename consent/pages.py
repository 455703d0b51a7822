"""Operator and public endpoints: health, the GPC well-known file, the demo page."""

from datetime import date

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import text

from core.db import db

bp = Blueprint("pages", __name__)

# The date our GPC support statement last changed (https://privacycg.github.io/gpc-spec/).
GPC_LAST_UPDATE = date(2026, 11, 1)


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


@bp.get("/.well-known/gpc.json")
def gpc_statement():
    """Declare that this service honours Global Privacy Control."""
    response = jsonify(gpc=True, lastUpdate=GPC_LAST_UPDATE.isoformat())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/")
def index():
    """Show the demo landing page."""
    return render_template("demo/index.html", sites=current_app.extensions["sites"].sites.values())
