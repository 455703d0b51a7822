"""Instants in UTC: read back from either SQL store, and written as text without strftime."""

from datetime import UTC, datetime
from typing import overload


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """Read a stored time as aware UTC: SQLite hands back naive values, PostgreSQL aware ones."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_text(moment: datetime, sep: str = "T") -> str:
    """``2026-11-29T05:32:25.309000`` in UTC (with ``sep`` between date and time).

    isoformat, not strftime: the same text for less, on paths every request takes. A naive
    time is UTC already (as SQLite reads it back); an aware one in UTC only loses its
    ``+00:00``.
    """
    if moment.tzinfo is UTC:
        return moment.isoformat(sep, "microseconds")[:-6]
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep, "microseconds")


def api_time(moment: datetime) -> str:
    """``2026-11-29T05:32:25.309000Z``: the one form of every time the API and receipts show."""
    return utc_text(moment) + "Z"
