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

    A decision writes its two times six times over (its hash, event, receipt and answer),
    and ``isoformat`` builds its text through a printf-style formatter (~12k instructions a
    call): the text of the last times is kept. Equal instants (the same moment in another
    zone) have equal texts; a naive time is UTC already (as SQLite reads it back) and never
    equals an aware one.
    """
    text = _texts.get(moment)
    if text is None:
        if moment.tzinfo is UTC:
            text = moment.isoformat("T", "microseconds")[:-6]  # without its "+00:00"
        elif moment.tzinfo is not None:
            text = moment.astimezone(UTC).replace(tzinfo=None).isoformat("T", "microseconds")
        else:
            text = moment.isoformat("T", "microseconds")
        if len(_texts) >= _KEPT:
            _texts.clear()
        _texts[moment] = text
    return text if sep == "T" else text.replace("T", sep, 1)


_KEPT = 1024
_texts: dict[datetime, str] = {}


def api_time(moment: datetime) -> str:
    """``2026-11-29T05:32:25.309000Z``: the one form of every time the API and receipts show."""
    return utc_text(moment) + "Z"
