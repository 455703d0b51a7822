"""Scanner bursts: what one hit cannot show, a message's last few seconds can.

Security gateways fetch the pixel and follow every link of a message at delivery, with
browser-like User-Agents, often within seconds (FIELD-NOTES). Three patterns give them
away, and each marks the message's *burst* — its hits within :data:`BURST_SECONDS` of the
moment the pattern showed — as ``security_scanner``:

- ``send_time``: a hit under 2 s after the send (:data:`pixel.classify.SEND_SCAN_SECONDS`);
  the hit itself is already ``within_2s_of_send``, the clicks that follow it are the same
  scan. Mail proxies and Apple's prefetch do not start a burst: they have their own class.
- ``all_links``: the message's links clicked at once — every link, or three distinct ones
  when the message has more (or its count is unknown), within :data:`ALL_LINKS_SECONDS`.
  Nobody clicks three links of one email in five seconds.
- ``honeypot_link``: a click on the link the render step hides from people (Mautic users
  report it catches ~90% of scanners). The click itself gets the reason ``honeypot_link``.

A hit in a burst is reclassified only if it was ``human`` or ``bot``; mail proxies (Gmail's
stays a human-triggered open), Apple's prefetch and other scanner reasons keep theirs.
Nothing is dropped: :meth:`BurstTracker.observe` returns the current hit's class and the
event ids of the message's earlier hits that the burst reclassifies, so the caller can
record the correction. A hit by a known scanner network alone starts no burst: Safe Links
also checks a link at the moment a person clicks it, just before that person's own request.

Limits, by design: the state is per process and in memory. With N gunicorn workers a burst
split across workers may be missed (each sees part of it); after a restart it starts empty.
At most ``max_messages`` messages are tracked (least recently hit evicted first, and any
message idle for :data:`IDLE_SECONDS`), each with its last ``max_hits`` hits. Measured with
tracemalloc at the defaults: ~4.5 MB for 10,000 messages of one hit each, ~28 MB at worst
(16 hits each). A message is remembered for ``max_messages`` / (messages hit per second)
seconds at least: a whole burst window up to 1,000 messages a second per process.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pixel.classify import AgentClass, Classification, Hit, HitKind, within_send_scan

# Hits this close to the moment a pattern showed belong to the same scan.
BURST_SECONDS = 10.0
# "At once": the window in which distinct links of one message count together.
ALL_LINKS_SECONDS = 5.0
# Distinct links that stand for "every link" in a message with more (or an unknown count).
ALL_LINKS_AT_MOST = 3
# A message with no hit for this long is forgotten: its bursts are over.
IDLE_SECONDS = 60.0
MAX_MESSAGES = 10_000
MAX_HITS = 16

# Classes a burst may overrule; the others come from a rule that knows better.
_OVERRULABLE = frozenset({AgentClass.HUMAN, AgentClass.BOT})


@dataclass(frozen=True, slots=True)
class Click:
    """Which link of its message a click followed."""

    link: str  # the link's id within the message (its index or registry id)
    links_in_message: int | None = None  # how many tracked links the message has, if known
    honeypot: bool = False  # the hidden link no person sees


@dataclass(frozen=True, slots=True)
class BurstVerdict:
    classification: Classification  # the current hit's class, after the burst rules
    reclassified: tuple[str, ...] = ()  # earlier event ids of the message now security_scanner


@dataclass(slots=True)
class _Seen:
    at: float
    event_id: str
    link: str | None  # None for opens and for the honeypot
    agent_class: AgentClass


@dataclass(slots=True)
class _Message:
    hits: list[_Seen]  # oldest first; a list, as most messages have one or two hits
    last_at: float
    burst_at: float | None = None
    burst_reason: str = ""


class BurstTracker:
    """Remember each message's last hits and mark the ones that belong to a scanner's burst."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_messages: int = MAX_MESSAGES,
        max_hits: int = MAX_HITS,
    ) -> None:
        if max_messages < 1 or max_hits < 1:
            raise ValueError("a tracker must hold at least one message and one hit")
        self._clock = clock
        self._max_messages = max_messages
        self._max_hits = max_hits
        self._messages: OrderedDict[str, _Message] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._messages)

    def observe(
        self,
        message_id: str,
        event_id: str,
        hit: Hit,
        classification: Classification,
        click: Click | None = None,
    ) -> BurstVerdict:
        """Record one hit of a message and return its class with the burst rules applied."""
        with self._lock:
            now = self._clock()
            message = self._message(message_id, now)
            pattern = self._pattern(message, now, hit, classification, click)
            reclassified: tuple[str, ...] = ()
            if pattern:
                message.burst_at, message.burst_reason = now, pattern
                reclassified = self._mark_earlier(message)
            current = self._current(message, now, classification, click)
            message.hits.append(_Seen(now, event_id, _link(click), current.agent_class))
            del message.hits[: -self._max_hits]
            return BurstVerdict(current, reclassified)

    def _message(self, message_id: str, now: float) -> _Message:
        self._forget_idle(now)
        message = self._messages.get(message_id)
        if message is None:
            message = _Message([], now)
            self._messages[message_id] = message
            if len(self._messages) > self._max_messages:
                self._messages.popitem(last=False)
        else:
            self._messages.move_to_end(message_id)
        message.last_at = now
        cutoff = now - BURST_SECONDS
        if message.hits and message.hits[0].at < cutoff:  # oldest first
            message.hits = [seen for seen in message.hits if seen.at >= cutoff]
        return message

    def _forget_idle(self, now: float) -> None:
        # Ordered by last hit, so the idle ones are at the front: each is looked at once.
        while self._messages:
            oldest = next(iter(self._messages.values()))
            if oldest.last_at >= now - IDLE_SECONDS:
                return
            self._messages.popitem(last=False)

    def _pattern(
        self,
        message: _Message,
        now: float,
        hit: Hit,
        classification: Classification,
        click: Click | None,
    ) -> str:
        if click is not None and click.honeypot:
            return "honeypot_link"
        if click is not None and hit.kind == HitKind.CLICK:
            needed = _links_needed(click.links_in_message)
            recent = {s.link for s in message.hits if s.link and s.at >= now - ALL_LINKS_SECONDS}
            if needed and len(recent | {click.link}) >= needed:
                return "all_links"
        starts_burst = classification.agent_class not in (
            AgentClass.MAIL_PROXY,
            AgentClass.APPLE_MPP,
        )
        if starts_burst and within_send_scan(hit.seconds_since_send):
            return "send_time"
        return ""

    def _mark_earlier(self, message: _Message) -> tuple[str, ...]:
        # _message() has already let go of the hits older than BURST_SECONDS.
        marked = []
        for seen in message.hits:
            if seen.agent_class in _OVERRULABLE:
                seen.agent_class = AgentClass.SECURITY_SCANNER
                marked.append(seen.event_id)
        return tuple(marked)

    def _current(
        self,
        message: _Message,
        now: float,
        classification: Classification,
        click: Click | None,
    ) -> Classification:
        if click is not None and click.honeypot:
            if classification.agent_class is AgentClass.SECURITY_SCANNER:
                return classification
            return classification.as_scanner("honeypot_link")
        in_burst = message.burst_at is not None and now - message.burst_at <= BURST_SECONDS
        if in_burst and classification.agent_class in _OVERRULABLE:
            return classification.as_scanner(f"burst:{message.burst_reason}")
        return classification


def _links_needed(links_in_message: int | None) -> int:
    """Distinct links that make "every link at once"; 0 when a message cannot show it."""
    if links_in_message is None:
        return ALL_LINKS_AT_MOST
    if links_in_message < 2:
        return 0
    return min(links_in_message, ALL_LINKS_AT_MOST)


def _link(click: Click | None) -> str | None:
    return None if click is None or click.honeypot else click.link
