"""Open rates: every number of the report equals a brute-force recount of raw events.

Hypothesis draws messages (individual and aggregate mode, two campaigns, three send days)
and events on them: sends, repeated opens by every agent class, clicks without opens,
unsubscribes, tracking opt-outs, days after the send; and corrections (pixel.bursts: a
scanner's burst found out later) of some opens and clicks, each spooled a few lines after
its event, and now and then one that names no stored event. They are shipped in batches
into the real tables as the shipper does (each batch's hook recounts what its corrections
touch, analytics.corrections) with replays (same token, and a batch shipped twice), and
after some batches the changed keys of the email rollup are sealed (analytics.sealing),
as the shipper's periodic task does; then once more, everything sealed; then with more
events after that seal (outdated seals). The
recount follows docs/analytics.md: an event's class is its correction's when it has one,
a message belongs to its send day, rates are per unique message.
"""

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from analytics_support import (
    PROPERTY,
    at,
    empty,
    event_stream,
    insert_batches,
    rollup_store,
    share,
    ship_spooled,
    split,
    unique_events,
)
from email_hits_support import BROWSER, age, api_key, links, mint, pixel_path
from events_support import SCHEMA_DIR, closed_port_url
from hypothesis import given
from hypothesis import strategies as st
from test_dashboard import PASSWORD, _cells, _login

from analytics import sealing
from analytics.corrections import RollupRefresher
from analytics.curve import open_curve
from analytics.rollups import AGENT_CLASSES, ReportQuery, open_rates
from dashboard import users
from events.schema import load_migrations, view_select
from pixel.bursts import BurstTracker

TABLES = ("email_events", "email_reclassified", "email_daily", "email_age_daily", sealing.SEALED)
CAMPAIGNS = ("spring", "summer")
KINDS = ("sent", "open", "open", "click", "unsubscribe", "tracking_optout")
HUMAN = ("human", "mail_proxy")
FIRST_DAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def store(chdb_root):
    yield from rollup_store(chdb_root)


MESSAGES = [
    {"message_id": f"m{i}", "campaign": CAMPAIGNS[i % 2], "send_day": i % 3,
     "tracking": "aggregate" if i % 4 == 0 else "individual"}
    for i in range(8)
]  # fmt: skip


@st.composite
def email_event(draw) -> dict:
    message = draw(st.sampled_from(MESSAGES))
    kind = draw(st.sampled_from(KINDS))
    later = 0 if kind == "sent" else draw(st.integers(0, 3))
    return {
        "event_id": str(draw(st.uuids(version=4))),
        "ts": at(message["send_day"] + later, draw(st.integers(0, 86_399))),
        "kind": kind,
        "site": "demo",
        "campaign": message["campaign"],
        "list": "default",
        "message_id": message["message_id"],
        "recipient": "" if message["tracking"] == "aggregate" else f"r-{message['message_id']}",
        "tracking": message["tracking"],
        # Now and then an event that does not know its send time: it counts on its own day.
        "sent_at": None if draw(st.integers(0, 9)) == 0 else at(message["send_day"], 0),
        "agent_class": draw(st.sampled_from(AGENT_CLASSES)) if kind in ("open", "click") else "",
    }


def email_stream() -> st.SearchStrategy:
    """Events in batches with replays (analytics_support.event_stream), and corrections:
    (index of the event, lines after it in the spool), whether to add one correction
    that names an event nobody stored, and after which batches the shipper's periodic
    task seals the email rollup's changed keys (analytics.sealing)."""
    picks = st.lists(st.tuples(st.integers(0, 39), st.integers(1, 12)), max_size=8)
    seals = st.sets(st.integers(0, 4), max_size=3)
    return st.tuples(event_stream(email_event()), picks, st.booleans(), seals)


def correction(event: dict, reason: str = "burst:honeypot_link") -> dict:
    """The ``email_reclassified`` row pixel.recording spools when a burst marks ``event``."""
    return {
        "event_id": event["event_id"], "ts": event["ts"], "campaign": event["campaign"],
        "message_id": event["message_id"], "agent_class": "security_scanner",
        "agent_reason": reason,
    }  # fmt: skip


def refresher(store) -> RollupRefresher:
    return RollupRefresher(store, SCHEMA_DIR, today=lambda: FIRST_DAY + timedelta(days=30))


def ship_email(store, drawn) -> list[dict]:
    """Empty the tables, ship a drawn email stream with its corrections as the shipper
    would, and return the distinct events with their classes as corrected."""
    (events, cuts, replays), picks, stray, seals = drawn
    empty(store, TABLES)
    lines = [("email_events", e) for e in events]
    for index, later in picks:
        if index < len(events) and events[index]["kind"] in ("open", "click"):
            at_event = next(i for i, (_, row) in enumerate(lines) if row is events[index])
            line = ("email_reclassified", correction(events[index]))
            lines.insert(min(at_event + later, len(lines)), line)
    if stray:
        nobody = {"event_id": "00000000-0000-4000-8000-00000000ffff", "ts": at(0, 5),
                  "campaign": "spring", "message_id": "m0"}  # fmt: skip
        lines.append(("email_reclassified", correction(nobody)))
    batches = split(lines, cuts)

    def periodic(index: int) -> None:
        if index in seals:
            sealing.seal(store)

    ship_spooled(store, batches, replays, {"email_reclassified": refresher(store)}, periodic)
    corrected = {row["event_id"]: row["agent_class"] for t, row in lines if t != "email_events"}
    distinct = unique_events([[row for t, row in lines if t == "email_events"]])
    return [e | {"agent_class": corrected.get(e["event_id"], e["agent_class"])} for e in distinct]


def recount(events: list[dict], query: ReportQuery) -> list[dict]:
    """The open-rates rows, counted in Python from the distinct raw events.

    Messages are counted per send-day cohort (the day of sent_at, else of the event);
    a campaign's numbers are the sums of its cohorts'.
    """
    cohorts: dict[tuple, list[dict]] = defaultdict(list)
    for event in events:
        send_day = date.fromisoformat((event["sent_at"] or event["ts"])[:10])
        if not query.start <= send_day <= query.end:
            continue
        if query.subject is not None and event["campaign"] != query.subject:
            continue
        cohorts[(event["campaign"], send_day)].append(event)
    rows = {key: _counts(cohorts[key]) for key in sorted(cohorts)}
    if query.group_by:
        return [{"campaign": c, "day": d, **_rates(n)} for (c, d), n in rows.items()]
    totals: dict[str, dict] = {}
    for (campaign, _), counts in rows.items():
        total = totals.setdefault(campaign, {})
        for name, value in counts.items():
            if isinstance(value, dict):
                earlier = total.get(name, {})
                total[name] = {c: earlier.get(c, 0) + value[c] for c in value}
            else:
                total[name] = total.get(name, 0) + value
    return [{"campaign": c, **_rates(n)} for c, n in totals.items()]


def _counts(events: list[dict]) -> dict:
    def messages(test) -> set[str]:
        return {e["message_id"] for e in events if test(e)}

    def kind(k):
        return lambda e: e["kind"] == k

    sent = messages(kind("sent"))
    opened = messages(kind("open"))
    human_opened = messages(lambda e: e["kind"] == "open" and e["agent_class"] in HUMAN)
    human_clicked = messages(lambda e: e["kind"] == "click" and e["agent_class"] == "human")
    return {
        "sent": len(sent),
        "aggregate_sent": len(sent & messages(lambda e: e["tracking"] == "aggregate")),
        "opens": sum(map(kind("open"), events)),
        "unique_opens": len(opened),
        "human_opens": len(human_opened),
        "machine_opens": len(opened - human_opened),
        "engaged": len(human_opened | human_clicked),
        "clicks": sum(map(kind("click"), events)),
        "unique_clicks": len(messages(kind("click"))),
        "human_clicks": len(human_clicked),
        "unsubscribes": len(messages(kind("unsubscribe"))),
        "tracking_optouts": len(messages(kind("tracking_optout"))),
        "unique_opens_by_class": {
            c: len(messages(lambda e, c=c: e["kind"] == "open" and e["agent_class"] == c))
            for c in AGENT_CLASSES
        },
    }


def _rates(n: dict) -> dict:
    return n | {
        "machine_share": share(n["machine_opens"], n["unique_opens"]),
        "open_rate": share(n["unique_opens"], n["sent"]),
        "engagement_rate": share(n["engaged"], n["sent"]),
        "click_rate": share(n["unique_clicks"], n["sent"]),
        "unsubscribe_rate": share(n["unsubscribes"], n["sent"]),
    }


@PROPERTY
@given(stream=email_stream(), later=st.lists(email_event(), min_size=1, max_size=8))
def test_every_number_equals_a_recount_of_the_raw_events(store, stream, later):
    distinct = ship_email(store, stream)
    last = FIRST_DAY + timedelta(days=2)
    narrow = ReportQuery(FIRST_DAY + timedelta(days=1), last, "summer")

    def reports_equal_the_recount() -> None:
        for group_by in [(), ("day",)]:
            query = ReportQuery(FIRST_DAY, last, None, group_by)
            assert open_rates(store, query) == recount(distinct, query), group_by
            assert open_rates(store, query, sharded=True) == recount(distinct, query), group_by
        assert open_rates(store, narrow) == recount(distinct, narrow)

    reports_equal_the_recount()  # sealed after the drawn batches only
    sealing.seal(store)
    reports_equal_the_recount()  # everything sealed
    # Events after the seal: the keys they touch now have outdated seals.
    for n, event in enumerate(later):
        event["event_id"] = f"00000000-0000-4000-9000-{n:012d}"  # none shipped before
    insert_batches(store, "email_events", [later], [])
    distinct += later
    reports_equal_the_recount()


def test_a_known_campaign_gives_the_documented_numbers(store):
    # Four messages sent on 1 November: m1 opened by Apple MPP only (a machine), m2 opened
    # three times through Gmail's proxy (a person) and unsubscribed, m3 (aggregate mode)
    # clicked by a person without any logged open, m4 untouched.
    empty(store, TABLES)
    n = iter(range(100))

    def event(message, kind, agent="", tracking="individual"):
        return {
            "event_id": f"00000000-0000-4000-8000-{next(n):012d}", "ts": at(0, 3600),
            "kind": kind, "site": "demo", "campaign": "spring", "list": "default",
            "message_id": message, "recipient": "", "tracking": tracking,
            "sent_at": at(0, 0), "agent_class": agent,
        }  # fmt: skip

    rows = [event(m, "sent") for m in ("m1", "m2", "m4")] + [
        event("m3", "sent", tracking="aggregate"),
        event("m1", "open", "apple_mpp"),
        *(event("m2", "open", "mail_proxy") for _ in range(3)),
        event("m2", "unsubscribe"),
        event("m3", "click", "human", tracking="aggregate"),
    ]
    insert_batches(store, "email_events", [rows], [(0, False), (0, True)])
    (row,) = open_rates(store, ReportQuery(FIRST_DAY, FIRST_DAY, "spring"))
    assert (row["sent"], row["aggregate_sent"]) == (4, 1)
    assert (row["opens"], row["unique_opens"], row["open_rate"]) == (4, 2, 0.5)
    assert row["unique_opens_by_class"] == {
        "human": 0, "mail_proxy": 1, "apple_mpp": 1, "security_scanner": 0, "bot": 0,
    }  # fmt: skip
    assert (row["machine_opens"], row["machine_share"]) == (1, 0.5)
    # Engaged: m2 (proxy open) and m3 (a human click, no open): the headline rate is 2/4.
    assert (row["engaged"], row["engagement_rate"]) == (2, 0.5)
    assert (row["clicks"], row["unique_clicks"], row["click_rate"]) == (1, 1, 0.25)
    assert (row["unsubscribes"], row["unsubscribe_rate"]) == (1, 0.25)


def test_a_burst_found_out_later_leaves_the_human_numbers(make_app):
    # End to end: a message minted through the API is opened and clicked by what looks
    # like a person; the report counts one engaged message. Seconds later the same client
    # follows the hidden honeypot link: the burst was a scanner's (pixel.bursts), its open
    # and click are corrected, and once shipped the API, the CLI and the curve show them
    # as security_scanner: opened by a machine only, nobody engaged; so does the dashboard.
    app = make_app(EMAIL_TRACKING_CONSENT="not_required")
    now = [1000.0]
    app.extensions["pixel.hits"].bursts = BurstTracker(clock=lambda: now[0])
    client = app.test_client()
    auth = api_key(app)
    answer = mint(client, auth, campaign="burst")
    age(app, answer["message_id"], seconds=600)  # well after the send: not a send-time scan
    scanner = {"headers": {"User-Agent": BROWSER}, "environ_base": {"REMOTE_ADDR": "192.0.2.9"}}

    def report() -> dict:
        assert app.extensions["events"].flush(timeout=30)
        got = client.get("/api/v1/reports/open-rates?campaign=burst", headers=auth)
        (row,) = got.json["rows"]
        return row

    assert client.get(pixel_path(answer), **scanner).status_code == 200
    now[0] += 2
    assert client.get(links(answer)["Sale"], **scanner).status_code == 302
    before = report()
    assert (before["human_opens"], before["engaged"], before["human_clicks"]) == (1, 1, 1)

    now[0] += 3
    assert client.get(links(answer)["honeypot"], **scanner).status_code == 200
    row = report()
    assert row["unique_opens_by_class"] == {
        "human": 0, "mail_proxy": 0, "apple_mpp": 0, "security_scanner": 1, "bot": 0,
    }  # fmt: skip
    assert (row["sent"], row["unique_opens"], row["machine_opens"], row["human_opens"]) == (
        1, 1, 1, 0,
    )  # fmt: skip
    assert (row["engaged"], row["engagement_rate"]) == (0, 0.0)
    assert (row["clicks"], row["unique_clicks"], row["human_clicks"]) == (2, 1, 0)

    cli = app.test_cli_runner().invoke(
        args=["report", "open-rates", "--campaign", "burst", "--format", "json"]
    )
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["rows"] == [row]
    app.extensions["events"].clickhouse.close()  # the CLI closed it; reopen in this process
    today = datetime.now(UTC).date()
    curve = open_curve(
        app.extensions["events"].clickhouse,
        ReportQuery(today - timedelta(days=1), today, "burst"),
        sent=1,
    )
    assert [(p.unique_opens, p.human_opens, p.engaged) for p in curve] == [(1, 0, 0)]

    with app.app_context():
        users.create_user("ana", PASSWORD)
    _login(client)
    cells = _cells(client.get("/dashboard/?campaign=burst").text, "campaign", "burst")
    assert (cells["machine_share"], cells["engagement_rate"]) == ("100.0% 1 msgs", "0.0% 0 msgs")


def _person_opened(day: int = 0) -> tuple[list[dict], list[dict]]:
    """A message sent on FIRST_DAY + ``day`` and opened by what looked like a person, and
    the correction that says it was a scanner."""
    sent = {"event_id": "00000000-0000-4000-8000-000000000001", "ts": at(day, 0),
            "kind": "sent", "site": "demo", "campaign": "spring", "list": "default",
            "message_id": "m1", "recipient": "", "tracking": "individual",
            "sent_at": at(day, 0), "agent_class": ""}  # fmt: skip
    opened = sent | {"event_id": "00000000-0000-4000-8000-000000000002", "ts": at(day, 600),
                     "kind": "open", "agent_class": "human"}  # fmt: skip
    return [sent, opened], [correction(opened)]


def _human_opens(store, day: int = 0) -> int:
    (row,) = open_rates(store, ReportQuery(FIRST_DAY, FIRST_DAY + timedelta(days=day), "spring"))
    return row["human_opens"]


def test_a_recount_that_lands_late_is_settled(store):
    # Two shipping processes recount one key at once: the one that read the raw events
    # before the correction writes last (here: the view's own SELECT without corrections).
    # Its stale states stay until the key is recounted once more, SETTLE seconds later.
    empty(store, TABLES)
    events, corrections = _person_opened()
    insert_batches(store, "email_events", [events], [])
    insert_batches(store, "email_reclassified", [corrections], [])
    clock = [100.0]
    refresher = RollupRefresher(
        store, SCHEMA_DIR, settle=30.0, clock=lambda: clock[0], today=lambda: FIRST_DAY
    )
    refresher(corrections)
    assert _human_opens(store) == 0
    view = view_select(load_migrations(SCHEMA_DIR), "email_daily")
    store.command(f"INSERT INTO email_daily {view}")  # the stale recount lands
    assert _human_opens(store) == 1
    clock[0] += 29
    assert refresher.settle() == pytest.approx(1.0)  # not yet: one second to go
    assert _human_opens(store) == 1
    clock[0] += 1
    assert refresher.settle() is None  # recounted, and nothing left waiting
    assert _human_opens(store) == 0


def test_a_correction_older_than_the_raw_events_is_left_out(store, caplog):
    # Raw events are kept 30 days here: a recount 40 days after the send could find them
    # gone and lose what the rollup holds, so the rollup keeps its numbers as they are.
    empty(store, TABLES)
    events, corrections = _person_opened()
    insert_batches(store, "email_events", [events], [])
    insert_batches(store, "email_reclassified", [corrections], [])
    late = RollupRefresher(
        store, SCHEMA_DIR, retention_days=30, today=lambda: FIRST_DAY + timedelta(days=40)
    )
    assert late.refresh(late.keys_of(corrections)) == set()
    assert "left out: their raw events may have expired" in caplog.text
    (row,) = open_rates(store, ReportQuery(FIRST_DAY, FIRST_DAY, "spring"))
    assert (row["sent"], row["human_opens"]) == (1, 1)
    in_time = RollupRefresher(
        store, SCHEMA_DIR, retention_days=30, today=lambda: FIRST_DAY + timedelta(days=29)
    )
    assert in_time.refresh(in_time.keys_of(corrections)) == {("spring", FIRST_DAY)}
    assert _human_opens(store) == 0


def test_the_cli_recounts_corrections_recorded_before_the_server_did(app, runner):
    # Corrections stored without the shipping hook (as a release before it did): the
    # rollups still count the person, until `consentry report refresh` recounts them.
    today = datetime.now(UTC).date()
    day = (today - FIRST_DAY).days
    events, corrections = _person_opened(day)
    store = app.extensions["events"].clickhouse
    insert_batches(store, "email_events", [events], [])
    insert_batches(store, "email_reclassified", [corrections], [])
    assert _human_opens(store, day) == 1
    result = runner.invoke(args=["report", "refresh", "--campaign", "spring"])
    assert result.exit_code == 0, result.output
    assert f"recounted 1 campaign send days from {today - timedelta(399)} to {today}" in (
        result.output
    )
    assert _human_opens(store, day) == 0
    assert sealing.unsealed(store) == []  # and it sealed what it recounted
    bad = runner.invoke(args=["report", "refresh", "--from", "yesterday"])
    assert bad.exit_code == 2
    assert "'yesterday' does not match the format '%Y-%m-%d'" in bad.output


def test_keys_are_settled_only_where_several_processes_ship(make_app):
    embedded = make_app()  # one process ships: its recounts never overlap
    assert "settle_email_rollups" not in embedded.extensions["events"].health()["tasks"]
    server = make_app(CLICKHOUSE_URL=closed_port_url())
    assert "settle_email_rollups" in server.extensions["events"].health()["tasks"]


def test_a_correction_clickhouse_refuses_holds_nothing_up(app):
    # Its line is set aside by the shipper; the hook, which sees the batch's rows, finds
    # no key for it instead of failing (and holding the spool) forever.
    pipeline = app.extensions["events"]
    bad = {"event_id": "not-an-id", "ts": at(0, 5), "campaign": "spring", "message_id": "m1",
           "agent_class": "security_scanner", "agent_reason": "burst:honeypot_link"}  # fmt: skip
    pipeline.emit("email_reclassified", bad)
    pipeline.emit("email_reclassified", bad | {"event_id": None})  # stored as the nil UUID
    assert pipeline.flush(timeout=30)
    assert pipeline.health()["spool"]["rejected_events"] == 1
    assert app.extensions["analytics.refresher"].keys_of([bad, {"campaign": "spring"}]) == set()
