"""The open curve of a campaign: how many of its messages were opened within N days.

Read from ``email_age_daily`` (migration 0007): merging the uniqExact states of ages
0..N counts a message once however many days it was opened on, so each point is
"messages opened by day N" and the curve only rises; its last point equals the
open-rates report's ``unique_opens``, ``human_opens`` and ``engaged`` for the same range.
Rates are over ``sent`` from that report: one denominator for the table and the chart.
Like that report, each send day is counted on its own and the days are summed (a message
has one send day; an event without a send time counts on its own day, as there).
"""

from dataclasses import dataclass

from analytics.rollups import ReportQuery, rate
from events.protocols import EventStore

MAX_DAYS = 60  # a curve is about the days after a send; later opens still count at the end


@dataclass(frozen=True)
class CurvePoint:
    """Messages of the campaign opened (at all, by a person) or engaged by ``age`` days."""

    age: int
    unique_opens: int
    human_opens: int
    engaged: int
    open_rate: float | None
    engagement_rate: float | None


_LAST_AGE = """
SELECT count(), max(age) FROM email_age_daily
WHERE campaign = {campaign:String} AND send_day BETWEEN {start:Date} AND {end:Date}
"""
_CUMULATIVE = """
SELECT d, sum(opened), sum(human_opened), sum(engaged) FROM (
    SELECT send_day, d,
           uniqExactMergeIf(opened, least(age, {days:UInt16}) <= d) AS opened,
           uniqExactMergeIf(human_opened, least(age, {days:UInt16}) <= d) AS human_opened,
           uniqExactMergeIf(engaged, least(age, {days:UInt16}) <= d) AS engaged
    FROM email_age_daily
    ARRAY JOIN range(toUInt32({days:UInt16}) + 1) AS d
    WHERE campaign = {campaign:String} AND send_day BETWEEN {start:Date} AND {end:Date}
    GROUP BY send_day, d
)
GROUP BY d ORDER BY d
"""


def open_curve(
    store: EventStore, query: ReportQuery, sent: int, max_days: int = MAX_DAYS
) -> list[CurvePoint]:
    """The curve of ``query.subject`` (a campaign) for messages sent in the range.

    One point per day since the send, from 0 to the last day with an open or click (at
    most ``max_days``; opens after that are counted in the last point). Empty when
    the campaign has no opens or clicks in the range.
    """
    if query.subject is None:
        raise ValueError("an open curve is of one campaign")
    parameters = {"campaign": query.subject, "start": query.start, "end": query.end}
    ((rows, last),) = store.query(_LAST_AGE, parameters)
    if not rows:
        return []
    days = min(int(last), max_days)
    return [
        CurvePoint(age, opened, human, engaged, rate(opened, sent), rate(engaged, sent))
        for age, opened, human, engaged in store.query(_CUMULATIVE, {**parameters, "days": days})
    ]
