"""Consent rates: every number of the report equals a brute-force recount of raw events.

Hypothesis draws event streams (impressions and decisions of every action, several sites,
days, regions and returning visitors), ships them in batches into the real consent_events
table of the embedded engine, replays some batches (same token: a shipper retry; a new
token: a batch shipped twice) and reads the report from the rollups, for every grouping
and a filtered range. The recount below is written from the definitions in
docs/analytics.md, not from the SQL.
"""

from collections import defaultdict
from datetime import date, timedelta
from functools import partial

import pytest
from analytics_support import (
    PROPERTY,
    at,
    empty,
    event_stream,
    insert_batches,
    rollup_store,
    share,
    ship_stream,
)
from hypothesis import given
from hypothesis import strategies as st

from analytics.rollups import BANNER_ACTIONS, ReportQuery, consent_rates

TABLES = ("consent_events", "consent_daily", "consent_category_daily")
SITES = ("alpha", "beta")
REGIONS = ("DE", "US-CA", "")
CATEGORIES = ("preferences", "analytics", "marketing")
ACTIONS = ("accept_all", "reject_all", "custom", "withdraw", "gpc", "dnt")
VISITORS = [f"{i:032x}" for i in range(1, 7)]
FIRST_DAY = date(2026, 11, 1)
GROUPINGS = [(), ("day",), ("region",), ("day", "region")]


@pytest.fixture(scope="module")
def store(chdb_root):
    yield from rollup_store(chdb_root)


@st.composite
def consent_event(draw) -> dict:
    row = {
        "event_id": str(draw(st.uuids(version=4))),
        "ts": at(draw(st.integers(0, 3)), draw(st.integers(0, 86_399))),
        "site": draw(st.sampled_from(SITES)),
        "region": draw(st.sampled_from(REGIONS)),
        "dnt": int(draw(st.booleans())),
        "gpc": int(draw(st.booleans())),
    }
    if draw(st.booleans()):
        return {**row, "kind": "impression"}
    offered = draw(st.lists(st.sampled_from(CATEGORIES), unique=True))
    granted = draw(st.lists(st.sampled_from(offered), unique=True)) if offered else []
    return {
        **row,
        "kind": "decision",
        "action": draw(st.sampled_from(ACTIONS)),
        "consent_id": draw(st.sampled_from(VISITORS)),
        "granted": ["necessary", *granted],
        "denied": [c for c in offered if c not in granted],
    }


def recount(events: list[dict], query: ReportQuery) -> list[dict]:
    """The consent-rates rows, counted in Python from the distinct raw events."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for event in events:
        day = date.fromisoformat(event["ts"][:10])
        if not query.start <= day <= query.end:
            continue
        if query.subject is not None and event["site"] != query.subject:
            continue
        dims = {"day": day, "region": event["region"]}
        groups[(event["site"], *(dims[g] for g in query.group_by))].append(event)
    return [_recount_group(key, groups[key], query) for key in sorted(groups)]


def _recount_group(key: tuple, events: list[dict], query: ReportQuery) -> dict:
    decisions = [e for e in events if e["kind"] == "decision"]
    impressions = sum(e["kind"] == "impression" for e in events)

    def consenting(e):
        return any(c != "necessary" for c in e["granted"])

    def ids(rows):
        return len({e["consent_id"] for e in rows})

    by_action = {a: [e for e in decisions if e["action"] == a] for a in ACTIONS}
    no_action = max(impressions - sum(len(by_action[a]) for a in BANNER_ACTIONS), 0)
    reached = ids(decisions) + no_action
    row = {"site": key[0], **dict(zip(query.group_by, key[1:], strict=True))}
    row |= {
        "impressions": impressions,
        "decisions": len(decisions),
        **{a: len(by_action[a]) for a in ACTIONS},
        "consenting_decisions": sum(map(consenting, decisions)),
        "signal_events": sum(bool(e["dnt"] or e["gpc"]) for e in events),
        "visitors": ids(decisions),
        **{f"visitors_{a}": ids(by_action[a]) for a in BANNER_ACTIONS},
        "consenting_visitors": ids(filter(consenting, decisions)),
        "no_action": no_action,
        "accept_all_rate": share(len(by_action["accept_all"]), impressions),
        "reject_all_rate": share(len(by_action["reject_all"]), impressions),
        "custom_rate": share(len(by_action["custom"]), impressions),
        "no_action_rate": share(no_action, impressions),
        "consent_rate": share(sum(map(consenting, decisions)), impressions),
        "visitors_reached": reached,
        "visitor_accept_all_rate": share(ids(by_action["accept_all"]), reached),
        "visitor_reject_all_rate": share(ids(by_action["reject_all"]), reached),
        "visitor_custom_rate": share(ids(by_action["custom"]), reached),
        "visitor_no_action_rate": share(no_action, reached),
        "visitor_consent_rate": share(ids(filter(consenting, decisions)), reached),
        "signal_share": share(sum(bool(e["dnt"] or e["gpc"]) for e in events), len(events)),
        "categories": {},
    }
    for category in CATEGORIES:
        answered = [e for e in decisions if category in e["granted"] + e["denied"]]
        if not answered:
            continue
        opted = [e for e in answered if category in e["granted"]]
        row["categories"][category] = {
            "decisions": len(answered),
            "opt_ins": len(opted),
            "opt_in_rate": share(len(opted), len(answered)),
            "visitors": ids(answered),
            "opted_in_visitors": ids(opted),
            "visitor_opt_in_rate": share(ids(opted), ids(answered)),
        }
    return row


@PROPERTY
@given(stream=event_stream(consent_event()))
def test_every_number_equals_a_recount_of_the_raw_events(store, stream):
    distinct = ship_stream(store, TABLES, stream)
    last = FIRST_DAY + timedelta(days=3)
    for group_by in GROUPINGS:
        query = ReportQuery(FIRST_DAY, last, None, group_by)
        assert consent_rates(store, query) == recount(distinct, query), group_by
    narrow = ReportQuery(FIRST_DAY + timedelta(days=1), FIRST_DAY + timedelta(days=2), "beta")
    assert consent_rates(store, narrow) == recount(distinct, narrow)


KNOWN = partial(dict, ts=at(0, 60), site="alpha", region="DE", dnt=0, gpc=0)


def test_a_known_day_gives_the_documented_numbers(store):
    # Four impressions; visitor 1 accepts all, visitor 2 rejects all, then changes to a
    # custom choice (analytics only); one impression gets no answer. A GPC visitor (3) in an
    # opt-out region is recorded with action gpc and no banner.
    empty(store, TABLES)
    rows = [KNOWN(event_id=f"00000000-0000-4000-8000-00000000000{i}", kind="impression")
            for i in range(4)]  # fmt: skip
    decide = partial(KNOWN, kind="decision")
    rows += [
        decide(event_id="10000000-0000-4000-8000-000000000001", action="accept_all",
               consent_id=VISITORS[0], granted=["necessary", *CATEGORIES], denied=[]),
        decide(event_id="10000000-0000-4000-8000-000000000002", action="reject_all",
               consent_id=VISITORS[1], granted=["necessary"], denied=list(CATEGORIES)),
        decide(event_id="10000000-0000-4000-8000-000000000003", action="custom",
               consent_id=VISITORS[1], granted=["necessary", "analytics"],
               denied=["preferences", "marketing"]),
        decide(event_id="10000000-0000-4000-8000-000000000004", action="gpc", gpc=1,
               consent_id=VISITORS[2], granted=["necessary"], denied=list(CATEGORIES)),
    ]  # fmt: skip
    insert_batches(store, "consent_events", [rows], [(0, False)])
    (row,) = consent_rates(store, ReportQuery(FIRST_DAY, FIRST_DAY, "alpha"))
    assert (row["impressions"], row["decisions"]) == (4, 4)
    assert (row["accept_all"], row["reject_all"], row["custom"], row["gpc"]) == (1, 1, 1, 1)
    # 4 impressions, 3 banner answers: one impression had no action (not a rejection).
    assert (row["no_action"], row["no_action_rate"]) == (1, 0.25)
    assert row["reject_all_rate"] == 0.25
    # Visitors: 3 consent ids decided + 1 impression without an answer = 4 reached; two of
    # them consented (1 accepted all, 2 chose analytics), so half of the visitors.
    assert (row["visitors"], row["visitors_reached"], row["consenting_visitors"]) == (3, 4, 2)
    assert row["visitor_consent_rate"] == 0.5
    assert row["visitors_reject_all"] == 1
    assert row["categories"]["analytics"] == {
        "decisions": 4, "opt_ins": 2, "opt_in_rate": 0.5,
        "visitors": 3, "opted_in_visitors": 2, "visitor_opt_in_rate": 2 / 3,
    }  # fmt: skip
    assert row["categories"]["marketing"]["opt_ins"] == 1
    assert (row["signal_events"], row["signal_share"]) == (1, 1 / 8)
