"""The report API: consent rates and open rates from the rollups, as JSON or CSV."""

from datetime import UTC, date, datetime
from typing import TypeVar

from flask import Blueprint, Response, current_app, request
from pydantic import ValidationError

from analytics import reports
from analytics.render import report_rows, to_csv
from analytics.schemas import (
    ConsentRatesOut,
    ConsentRatesParams,
    OpenRatesOut,
    OpenRatesParams,
    ReportParams,
)
from core.auth import require_api_key
from core.errors import BadRequest
from core.validation import describe

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")

P = TypeVar("P", bound=ReportParams)


def _params(model: type[P]) -> P:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as e:
        raise BadRequest(describe(e), code="invalid_parameter") from e


def _answer(params: ReportParams, report: ConsentRatesOut | OpenRatesOut) -> Response:
    if params.format == "csv":
        document = report.model_dump(mode="json", by_alias=True)
        return Response(to_csv(report_rows(document)), mimetype="text/csv")
    return Response(report.model_dump_json(by_alias=True), mimetype="application/json")


def _store():
    return current_app.extensions["events"].clickhouse


def _today() -> date:
    return datetime.now(UTC).date()


@bp.get("/consent-rates")
@require_api_key
def consent_rates():
    """Answer consent rates per site (and day, region) from the consent rollups."""
    params = _params(ConsentRatesParams)
    query = reports.report_query(params, _today())
    return _answer(params, reports.consent_report(_store(), query))


@bp.get("/open-rates")
@require_api_key
def open_rates():
    """Answer email rates per campaign (and send day) from the email rollup."""
    params = _params(OpenRatesParams)
    query = reports.report_query(params, _today())
    sharded = current_app.config["CLICKHOUSE_CLUSTER"] is not None
    return _answer(params, reports.open_report(_store(), query, sharded=sharded))
