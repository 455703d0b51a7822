"""The open curve (analytics.curve, rollup email_age_daily): each point equals a recount.

The same drawn streams as the open-rates property test (two campaigns, three send days,
every agent class, opens days after the send, replays, corrections of opens and clicks
found out later), shipped into the real rollups as the shipper does.
Point N counts the messages of the campaign with an open (at all, by a person) or an
engagement no later than N days after their send day; the last point equals the open-rates
report of the same range, so the chart and the table never disagree.
"""

from collections import defaultdict
from datetime import date, timedelta

import pytest
from analytics_support import PROPERTY, empty, insert_batches, rollup_store
from hypothesis import given
from test_analytics_email import CAMPAIGNS, FIRST_DAY, HUMAN, TABLES, email_stream, ship_email

from analytics.curve import CurvePoint, open_curve
from analytics.rollups import ReportQuery, open_rates


@pytest.fixture(scope="module")
def store(chdb_root):
    yield from rollup_store(chdb_root)


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def recount(events: list[dict], query: ReportQuery, sent: int) -> list[CurvePoint]:
    """The curve counted in Python: the first age at which each message did each thing,
    per send-day cohort (as the open-rates report counts), summed over the cohorts."""
    first: dict[str, dict[tuple[date, str], int]] = defaultdict(dict)
    ages = []  # of every open and click: the curve runs to the last of them
    for e in events:
        send_day = _day(e["sent_at"] or e["ts"])
        if e["campaign"] != query.subject or not query.start <= send_day <= query.end:
            continue
        age = max((_day(e["ts"]) - send_day).days, 0)
        opened = e["kind"] == "open"
        human = opened and e["agent_class"] in HUMAN
        engaged = human or (e["kind"] == "click" and e["agent_class"] == "human")
        for name, did in (("opened", opened), ("human", human), ("engaged", engaged)):
            if did:
                key = (send_day, e["message_id"])
                first[name][key] = min(age, first[name].get(key, age))
        if e["kind"] in ("open", "click"):
            ages.append(age)
    if not ages:
        return []

    def by(name: str, day: int) -> int:
        return sum(1 for age in first[name].values() if age <= day)

    return [
        CurvePoint(
            d,
            by("opened", d),
            by("human", d),
            by("engaged", d),
            by("opened", d) / sent if sent else None,
            by("engaged", d) / sent if sent else None,
        )
        for d in range(max(ages) + 1)
    ]


@PROPERTY
@given(stream=email_stream())
def test_every_point_equals_a_recount_of_the_raw_events(store, stream):
    distinct = ship_email(store, stream)
    for campaign in CAMPAIGNS:
        for start in (FIRST_DAY, FIRST_DAY + timedelta(days=1)):
            query = ReportQuery(start, FIRST_DAY + timedelta(days=2), campaign)
            rows = open_rates(store, query)
            sent = rows[0]["sent"] if rows else 0
            curve = open_curve(store, query, sent)
            assert curve == recount(distinct, query, sent), query
            if curve:
                (row,) = rows
                last = curve[-1]
                assert (last.unique_opens, last.human_opens, last.engaged) == (
                    row["unique_opens"],
                    row["human_opens"],
                    row["engaged"],
                )


def test_opens_after_the_last_day_shown_count_in_the_last_point(store):
    empty(store, TABLES)

    def event(n: int, kind: str, day: int, agent: str = "human") -> dict:
        return {
            "event_id": f"00000000-0000-4000-8000-{n:012d}", "kind": kind, "site": "demo",
            "ts": f"2026-11-{1 + day:02d} 10:00:00.000", "campaign": "spring", "list": "default",
            "message_id": f"m{n % 3}", "recipient": "", "tracking": "individual",
            "sent_at": "2026-11-01 09:00:00.000", "agent_class": agent if kind != "sent" else "",
        }  # fmt: skip

    rows = [event(0, "sent", 0), event(1, "sent", 0), event(2, "sent", 0),
            event(3, "open", 1), event(4, "open", 5), event(5, "click", 9)]  # fmt: skip
    insert_batches(store, "email_events", [rows], [])
    curve = open_curve(store, ReportQuery(FIRST_DAY, FIRST_DAY, "spring"), 3, max_days=2)
    assert [(p.age, p.unique_opens, p.engaged) for p in curve] == [(0, 0, 0), (1, 1, 1), (2, 2, 3)]
