"""Classifying pixel and link hits: one hit by rules and the UA parser, then bursts per message."""

import math
import threading
import tomllib
from pathlib import Path

import pytest

from pixel import classify
from pixel.bursts import BURST_SECONDS, IDLE_SECONDS, BurstTracker, Click
from pixel.classify import (
    UA_CACHE_SIZE,
    AgentClass,
    Classification,
    Hit,
    HitKind,
    ScannerNetworks,
    classify_agent,
    within_send_scan,
)

AGENTS = tomllib.loads((Path(__file__).parent / "data" / "user_agents.toml").read_text())["agents"]

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


def _user_agent(row: dict) -> str:
    ua = row["ua"]
    return ua.ljust(row["pad_to"], ua[-1]) if "pad_to" in row else ua


@pytest.mark.parametrize("row", AGENTS, ids=[row["name"] for row in AGENTS])
def test_real_user_agents_get_their_class_and_reason(row):
    hit = Hit(
        method=row.get("method", "GET"),
        user_agent=_user_agent(row),
        client_ip=row.get("ip"),
        seconds_since_send=row.get("seconds", 3600.0),
        kind=HitKind(row.get("kind", "open")),
    )
    found = classify_agent(hit)
    assert [found.agent_class, found.reason] == row["expect"]
    if "family" in row:
        assert found.ua_family == row["family"]


def test_the_table_covers_every_class_with_real_strings():
    assert len(AGENTS) >= 25
    assert {row["expect"][0] for row in AGENTS} == set(AgentClass)
    assert max(len(_user_agent(row)) for row in AGENTS) >= 10 * 1024


def test_a_client_the_parser_does_not_know_gets_the_benefit_of_the_doubt():
    found = classify_agent(Hit("GET", "SomeNewMailer/0.1", None, 3600.0, HitKind.OPEN))
    assert found == Classification(AgentClass.HUMAN, "ua:unrecognised", "Other", "other")


@pytest.mark.parametrize(
    ("agent_class", "human_triggered"),
    [
        (AgentClass.HUMAN, True),
        (AgentClass.MAIL_PROXY, True),  # Gmail's proxy fetches when the person opens
        (AgentClass.APPLE_MPP, False),
        (AgentClass.SECURITY_SCANNER, False),
        (AgentClass.BOT, False),
    ],
)
def test_people_and_their_mail_proxies_are_human_triggered(agent_class, human_triggered):
    assert Classification(agent_class, "any").human_triggered is human_triggered


def test_an_unseen_user_agent_is_parsed_once_by_its_first_512_characters():
    # A token of this run keeps the strings out of what earlier tests cached.
    start = f"{CHROME} {id(object())} ".ljust(600, "x")
    long_one, other_tail = start.ljust(10_000, "a"), start.ljust(10_000, "b")
    before = classify.cache_info()
    first = classify_agent(Hit("GET", long_one, None, 60.0, HitKind.OPEN))
    second = classify_agent(Hit("GET", other_tail, None, 60.0, HitKind.CLICK))
    after = classify.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert first == second == Classification(AgentClass.HUMAN, "ua:browser", "Chrome", "pc")


def test_the_user_agent_cache_has_a_fixed_size():
    for n in range(UA_CACHE_SIZE + 50):  # short strings: the parser is quick on them
        classify_agent(Hit("GET", f"q{n}", None, 60.0, HitKind.OPEN))
    info = classify.cache_info()
    assert info.maxsize == UA_CACHE_SIZE
    assert info.currsize <= UA_CACHE_SIZE


def test_address_and_timing_do_not_enter_the_cache():
    """One UA seen from a scanner's network and then from a person's: each gets its own class."""
    ua = f"{CHROME} {id(object())}"
    scanner = classify_agent(Hit("GET", ua, "40.107.218.12", 3600.0, HitKind.CLICK))
    person = classify_agent(Hit("GET", ua, "203.0.113.9", 3600.0, HitKind.CLICK))
    early = classify_agent(Hit("GET", ua, None, 0.3, HitKind.CLICK))
    assert scanner.reason == "known_scanner:microsoft"
    assert person == Classification(AgentClass.HUMAN, "ua:browser", "Chrome", "pc")
    assert early.reason == "within_2s_of_send"


@pytest.mark.parametrize(
    ("seconds", "within"),
    [
        (None, False),  # no send time
        (0.0, True),
        (1.999, True),
        (2.0, False),
        (30.0, False),
        (-0.5, False),  # clocks disagree: no evidence either way
        (math.nan, False),
        (math.inf, False),
    ],
)
def test_the_send_time_threshold_is_two_seconds(seconds, within):
    assert within_send_scan(seconds) is within
    found = classify_agent(Hit("GET", CHROME, None, seconds, HitKind.OPEN))
    assert (found.reason == "within_2s_of_send") is within


@pytest.mark.parametrize(
    ("address", "vendor"),
    [
        ("40.92.0.0", "microsoft"),  # first address of 40.92.0.0/15
        ("40.93.255.255", "microsoft"),  # last
        ("40.94.0.0", None),  # one past: Azure, where people browse too
        ("104.47.127.255", "microsoft"),
        ("104.47.128.0", None),
        ("170.10.131.200", "mimecast"),
        ("170.10.134.1", None),
        ("::ffff:209.222.87.255", "barracuda"),
        ("2a01:111:f403:c000::1", "microsoft"),
        ("2a01:111:f404::1", None),
        ("1.1.1.1", None),  # below the first network
        ("203.0.113.9", None),
        ("not an address", None),
        ("", None),
        (None, None),
    ],
)
def test_scanner_networks_are_matched_by_their_bounds(address, vendor):
    assert classify.SCANNER_NETWORKS.vendor_of(address) == vendor
    # Cached per address: the first lookup and a repeated one give the network's answer.
    assert classify.scanner_vendor(address) == classify.scanner_vendor(address) == vendor


def test_the_address_cache_has_a_fixed_size():
    for n in range(classify.ADDRESS_CACHE_SIZE + 50):
        classify.scanner_vendor(f"198.18.{n // 256}.{n % 256}")
    info = classify.scanner_vendor.cache_info()
    assert info.maxsize == classify.ADDRESS_CACHE_SIZE
    assert info.currsize <= classify.ADDRESS_CACHE_SIZE


def test_overlapping_scanner_networks_are_refused():
    with pytest.raises(ValueError, match="overlapping"):
        ScannerNetworks({"a": ("10.0.0.0/8",), "b": ("10.1.0.0/16",)})


# --- bursts ------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def tracker(clock):
    return BurstTracker(clock=clock)


class Message:
    """One message's hits, fed through classify_agent and the tracker as the views will."""

    def __init__(self, tracker, clock, message_id="m1", sent_at=1000.0, links=None):
        self.tracker, self.clock, self.message_id = tracker, clock, message_id
        self.sent_at, self.links = sent_at, links
        self.count = 0

    def hit(self, at, kind="open", link=None, honeypot=False, ua=CHROME, ip=None):
        self.clock.now = self.sent_at + at
        self.count += 1
        event_id = f"{self.message_id}-e{self.count}"
        hit = Hit("GET", ua, ip, at, HitKind(kind))
        click = Click(link or "", self.links, honeypot) if kind == "click" else None
        verdict = self.tracker.observe(self.message_id, event_id, hit, classify_agent(hit), click)
        return event_id, verdict

    def open(self, at, **kwargs):
        return self.hit(at, "open", **kwargs)

    def click(self, at, link="a", **kwargs):
        return self.hit(at, "click", link, **kwargs)


def _class(verdict):
    return (verdict.classification.agent_class, verdict.classification.reason)


def test_an_open_and_a_click_at_the_send_are_one_scan_and_a_later_click_is_human(tracker, clock):
    message = Message(tracker, clock, links=5)
    _, scan_open = message.open(0.8)
    _, scan_click = message.click(3.0, "a")  # past 2 s, but inside the scan's burst
    _, person = message.click(30.8, "b")
    assert _class(scan_open) == (AgentClass.SECURITY_SCANNER, "within_2s_of_send")
    assert _class(scan_click) == (AgentClass.SECURITY_SCANNER, "burst:send_time")
    assert _class(person) == (AgentClass.HUMAN, "ua:browser")


def test_every_link_clicked_at_once_marks_the_burst_and_the_clicks_before_it(tracker, clock):
    message = Message(tracker, clock, links=4)
    first, _ = message.click(600.0, "a")
    second, _ = message.click(600.4, "b")
    _, third = message.click(600.9, "c")
    _, fourth = message.click(601.3, "d")
    _, person = message.click(631.3, "a")
    assert _class(third) == (AgentClass.SECURITY_SCANNER, "burst:all_links")
    assert third.reclassified == (first, second)
    assert _class(fourth) == (AgentClass.SECURITY_SCANNER, "burst:all_links")
    assert fourth.reclassified == ()
    assert _class(person) == (AgentClass.HUMAN, "ua:browser")


@pytest.mark.parametrize(
    ("links", "clicks", "scan"),
    [
        (None, [(0, "a"), (1, "b"), (2, "c")], True),  # unknown count: three distinct links
        (None, [(0, "a"), (1, "b")], False),
        (2, [(0, "a"), (1, "b")], True),  # both links of a two-link message
        (1, [(0, "a"), (0.1, "a"), (0.2, "a")], False),  # one link cannot show "all"
        (9, [(0, "a"), (0.1, "a"), (0.2, "a"), (0.3, "b")], False),  # repeats are not distinct
        (9, [(0, "a"), (2.6, "b"), (5.2, "c")], False),  # three links, but over 5.2 s
        (9, [(0, "a"), (2.5, "b"), (5.0, "c")], True),  # the same within 5 s
    ],
)
def test_what_counts_as_every_link_at_once(tracker, clock, links, clicks, scan):
    message = Message(tracker, clock, links=links)
    verdicts = [message.click(3600 + at, link)[1] for at, link in clicks]
    assert (verdicts[-1].classification.reason == "burst:all_links") is scan
    assert all(v.classification.agent_class is AgentClass.HUMAN for v in verdicts[:-1])


def test_a_honeypot_click_marks_the_messages_burst_both_ways(tracker, clock):
    message = Message(tracker, clock, links=6)
    long_before, _ = message.open(100.0)
    open_, _ = message.open(995.0)
    click, _ = message.click(996.0, "a")
    _, trap = message.click(1000.0, honeypot=True)
    _, after = message.click(1004.0, "b")
    _, person = message.click(1030.0, "b")
    assert _class(trap) == (AgentClass.SECURITY_SCANNER, "honeypot_link")
    assert trap.reclassified == (open_, click)  # not the open 15 minutes before
    assert long_before not in trap.reclassified
    assert _class(after) == (AgentClass.SECURITY_SCANNER, "burst:honeypot_link")
    assert _class(person) == (AgentClass.HUMAN, "ua:browser")


def test_a_burst_leaves_mail_proxy_opens_and_scanner_reasons_alone(tracker, clock):
    message = Message(tracker, clock)
    gmail, _ = message.open(3600.0, ua=GMAIL_PROXY)
    _, trap = message.click(3601.0, honeypot=True)
    _, proxy_again = message.open(3602.0, ua=GMAIL_PROXY)
    _, microsoft = message.click(3603.0, ip="40.107.218.12")
    assert gmail not in trap.reclassified
    assert _class(proxy_again) == (AgentClass.MAIL_PROXY, "gmail_image_proxy")
    assert _class(microsoft) == (AgentClass.SECURITY_SCANNER, "known_scanner:microsoft")


def test_a_known_honeypot_scanner_keeps_its_vendor(tracker, clock):
    _, trap = Message(tracker, clock).click(3600.0, honeypot=True, ip="205.139.110.61")
    assert _class(trap) == (AgentClass.SECURITY_SCANNER, "known_scanner:mimecast")


def test_apple_prefetch_and_gmail_at_the_send_start_no_burst(tracker, clock):
    message = Message(tracker, clock)
    _, prefetch = message.open(0.5, ua="Mozilla/5.0")
    _, proxy = message.open(1.0, ua=GMAIL_PROXY)
    _, person = message.click(4.0)
    assert _class(prefetch) == (AgentClass.APPLE_MPP, "apple_mpp_ua")
    assert _class(proxy) == (AgentClass.MAIL_PROXY, "gmail_image_proxy")
    assert _class(person) == (AgentClass.HUMAN, "ua:browser")


def test_a_time_of_click_check_does_not_take_the_persons_click(tracker, clock):
    """Safe Links fetches the link just before the person's browser follows it."""
    message = Message(tracker, clock)
    _, check = message.click(7200.0, ip="40.107.218.12")
    _, person = message.click(7200.6, ip="203.0.113.9")
    assert _class(check) == (AgentClass.SECURITY_SCANNER, "known_scanner:microsoft")
    assert _class(person) == (AgentClass.HUMAN, "ua:browser")
    assert person.reclassified == ()


def test_bursts_are_per_message(tracker, clock):
    Message(tracker, clock, "m1").click(3600.0, honeypot=True)
    _, other = Message(tracker, clock, "m2").click(3601.0)
    assert _class(other) == (AgentClass.HUMAN, "ua:browser")


def test_tracked_messages_are_bounded_least_recently_hit_first(clock):
    tracker = BurstTracker(clock=clock, max_messages=3)
    Message(tracker, clock, "m0").click(3600.0, honeypot=True)
    for n in range(1, 10):
        Message(tracker, clock, f"m{n}").open(3600.0 + n / 10)
    assert len(tracker) == 3
    # m0's burst is forgotten with it: the documented price of a bounded tracker.
    _, forgotten = Message(tracker, clock, "m0").click(3601.0)
    assert _class(forgotten) == (AgentClass.HUMAN, "ua:browser")


def test_idle_messages_are_forgotten(tracker, clock):
    Message(tracker, clock, "m1").open(3600.0)
    Message(tracker, clock, "m2").open(3600.0 + IDLE_SECONDS / 2)
    assert len(tracker) == 2
    Message(tracker, clock, "m3").open(3600.0 + IDLE_SECONDS + 1)
    assert len(tracker) == 2  # m1 went idle; m2 has not yet
    Message(tracker, clock, "m3").open(3600.0 + 3 * IDLE_SECONDS)
    assert len(tracker) == 1


def test_a_message_keeps_only_its_last_hits(clock):
    tracker = BurstTracker(clock=clock, max_hits=4)
    message = Message(tracker, clock)
    opened = [message.open(3600.0 + n / 10)[0] for n in range(10)]
    _, trap = message.click(3601.5, honeypot=True)
    assert trap.reclassified == tuple(opened[-4:])


def test_hits_older_than_the_burst_window_are_not_reclassified(tracker, clock):
    message = Message(tracker, clock)
    old, _ = message.open(3600.0)
    recent, _ = message.open(3600.0 + BURST_SECONDS / 2)
    _, trap = message.click(3600.0 + BURST_SECONDS + 1, honeypot=True)
    assert trap.reclassified == (recent,)
    assert old not in trap.reclassified


def test_observing_is_one_thread_at_a_time():
    """A second hit waits while the first is inside the tracker (its clock is read there)."""
    inside, release = threading.Event(), threading.Event()
    calls = []

    def clock():
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            inside.set()
            release.wait(5)
        return 1000.0

    tracker = BurstTracker(clock=clock)
    hit = Hit("GET", CHROME, None, 3600.0, HitKind.OPEN)
    found = classify_agent(hit)
    first = threading.Thread(target=tracker.observe, args=("m", "e1", hit, found), name="first")
    second_done = threading.Event()

    def second():
        tracker.observe("m", "e2", hit, found)
        second_done.set()

    first.start()
    assert inside.wait(5)
    threading.Thread(target=second, name="second").start()
    # The one wait that must time out: the second hit cannot get in while the first is inside.
    assert not second_done.wait(0.2)
    release.set()
    first.join(5)
    assert second_done.wait(5)
    assert calls == ["first", "second"]
