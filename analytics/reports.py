"""Reports as documents: the range and groups asked for, and the rows from the rollups.

Shared by the API and the CLI, so both answer the same numbers in the same shape.
"""

from datetime import date, timedelta

from analytics import rollups
from analytics.schemas import (
    ConsentRateRow,
    ConsentRatesOut,
    ConsentRatesParams,
    OpenRateRow,
    OpenRatesOut,
    OpenRatesParams,
)
from events.protocols import EventStore

DEFAULT_DAYS = 30


def report_query(params: ConsentRatesParams | OpenRatesParams, today: date) -> rollups.ReportQuery:
    """The date range (default: the last 30 days to ``today``) and groups asked for.

    A range whose ``from`` is after its ``to`` is empty: no rows, not an error.
    """
    end = params.end or today
    start = params.start or end - timedelta(days=DEFAULT_DAYS - 1)
    subject = params.site if isinstance(params, ConsentRatesParams) else params.campaign
    group_by = tuple(dict.fromkeys(params.group_by.split(","))) if params.group_by else ()
    return rollups.ReportQuery(start, end, subject, group_by)


def consent_report(store: EventStore, query: rollups.ReportQuery) -> ConsentRatesOut:
    """The consent-rates report of ``query``."""
    return ConsentRatesOut(
        start=query.start,
        end=query.end,
        group_by=list(query.group_by),
        site=query.subject,
        rows=[ConsentRateRow.model_validate(r) for r in rollups.consent_rates(store, query)],
    )


def open_report(
    store: EventStore, query: rollups.ReportQuery, *, sharded: bool = False
) -> OpenRatesOut:
    """The open-rates report of ``query`` (``sharded``: on a ClickHouse cluster)."""
    return OpenRatesOut(
        start=query.start,
        end=query.end,
        group_by=list(query.group_by),
        campaign=query.subject,
        rows=[
            OpenRateRow.model_validate(r) for r in rollups.open_rates(store, query, sharded=sharded)
        ],
    )
