"""Public consent pages: the Global Privacy Control well-known file."""

from datetime import date

from flask import Blueprint, jsonify

bp = Blueprint("consent_pages", __name__)

# The date our GPC support statement last changed (https://privacycg.github.io/gpc-spec/).
GPC_LAST_UPDATE = date(2026, 11, 1)


@bp.get("/.well-known/gpc.json")
def gpc_statement():
    """Declare that this service honours Global Privacy Control."""
    response = jsonify(gpc=True, lastUpdate=GPC_LAST_UPDATE.isoformat())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
