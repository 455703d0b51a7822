"""Turning a pixel or link hit into an event, or into a drop counted by its reason.

Each step enriches the hit or drops it with a named reason (counted, anonymously, in
``dropped_hits``; SPEC §3.3):

=====  ===========================================================  ==============
step   the hit                                                      dropped as
=====  ===========================================================  ==============
1      ``HEAD`` on the pixel (a scanner's probe, never an open)     ``head``
2      a token that is not ours, or names no stored message          ``invalid``
3      mode ``none``, or the recipient has since unsubscribed,       ``opted_out``
       denied or opted out of tracking (read at hit time,
       :mod:`pixel.trackable`)
4      a DNT or GPC signal, as the message's site's policy reads it  ``signal``
5      classified (:mod:`pixel.classify`, then :mod:`pixel.bursts`)  —
6      one spool write (``email_events``)                            ``spool_full``
=====  ===========================================================  ==============

A logged hit is never dropped for being a machine: it carries its ``agent_class`` and
reason. When a burst reclassifies a message's *earlier* hits (every link at once, a
honeypot click), their events are already spooled; the correction is spooled too, one
``email_reclassified`` row per event (migrations/clickhouse/0006), so a report takes an
event's class from there when it has one.

In aggregate mode an event carries no recipient, no User-Agent and no address prefix: the
anonymous message id, the class and the UA family only.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy.engine import Engine

from core.times import utc_text
from core.visitors import MAX_USER_AGENT, ip_prefix
from events.errors import SpoolFull
from events.protocols import DropReason, EventSink
from pixel import tokens
from pixel.bursts import BurstTracker
from pixel.bursts import Click as BurstClick
from pixel.classify import Classification, Hit, HitKind, classify_agent
from pixel.trackable import MessageCache, TrackedMessage, withdrawn

OPEN_SOURCE, CLICK_SOURCE = "email_open", "email_click"
HONEYPOT_LINK = "honeypot"


@dataclass(frozen=True, slots=True)
class Visit:
    """What a hit's request says, as plain values (the view reads them; nothing else does)."""

    method: str
    user_agent: str | None
    client_ip: str | None
    dnt: bool
    gpc: bool
    now: datetime

    def signalled(self, policy: str) -> bool:
        """Tell whether a site with this signal policy must not track this hit (SPEC §2.3)."""
        return self.gpc or (policy == "strict" and self.dnt)


class HitRecorder:
    """Check, classify and spool the hits of one app's pixels and links."""

    def __init__(
        self,
        events: EventSink,
        keys: list[str],
        signal_policy: Callable[[str], str],
        engine: Engine,
        messages: MessageCache | None = None,
        bursts: BurstTracker | None = None,
    ) -> None:
        self._events = events
        self._keys = keys
        self._signal_policy = signal_policy
        # The app's engine itself, not Flask-SQLAlchemy's ``db.engine``: hits are also
        # recorded outside any app context (core.fastlane).
        self._engine = engine
        self.messages = messages or MessageCache()
        self.bursts = bursts or BurstTracker()

    def drop(self, reason: DropReason, source: str) -> DropReason:
        """Count one dropped hit; return its reason."""
        self._events.count_drop(reason, source)
        return reason

    def open(self, token: str, visit: Visit) -> DropReason | None:
        """Log a pixel hit as an ``open`` event, or count why not; None when logged."""
        if visit.method == "HEAD":
            return self.drop("head", OPEN_SOURCE)
        message_id = tokens.read_message(self._keys, tokens.OPEN, token)
        return self._record(message_id, visit, HitKind.OPEN, None)

    def click(self, link: tokens.Click, visit: Visit) -> DropReason | None:
        """Log a followed link as a ``click`` event, or count why not; None when logged."""
        return self._record(link.message_id, visit, HitKind.CLICK, link)

    def _record(
        self,
        message_id: str | None,
        visit: Visit,
        kind: HitKind,
        link: tokens.Click | None,
    ) -> DropReason | None:
        source = OPEN_SOURCE if kind is HitKind.OPEN else CLICK_SOURCE
        message = None
        if message_id:
            message = self.messages.find(self._engine, self._keys, message_id)
        if message is None:
            return self.drop("invalid", source)
        if withdrawn(message, self._engine):
            return self.drop("opted_out", source)
        if visit.signalled(self._signal_policy(message.site)):
            return self.drop("signal", source)
        event_id = str(uuid.uuid4())
        since_send = None
        if message.sent_at is not None:
            since_send = (visit.now - message.sent_at).total_seconds()
        hit = Hit(visit.method, visit.user_agent, visit.client_ip, since_send, kind)
        verdict = self.bursts.observe(
            message.id, event_id, hit, classify_agent(hit), _burst_click(link)
        )
        row = _event(message, visit, kind, verdict.classification, event_id)
        if link is not None and link.url is not None:
            row["url"] = link.url
        try:
            self._events.emit("email_events", row)
            if verdict.reclassified:
                reason = _burst_reason(link, verdict.classification)
                for earlier in verdict.reclassified:
                    correction = _correction(message, earlier, reason, visit.now)
                    self._events.emit("email_reclassified", correction)
        except (SpoolFull, OSError):
            return self.drop("spool_full", source)
        return None


def _burst_click(link: tokens.Click | None) -> BurstClick | None:
    if link is None:
        return None
    if link.url is None:
        return BurstClick(HONEYPOT_LINK, honeypot=True)
    # Tokens carry the URL, not the link's place in the mail: distinct URLs stand for
    # distinct links, and the message's link count is unknown (three at once suffice).
    return BurstClick(link.url)


def _event(
    message: TrackedMessage,
    visit: Visit,
    kind: HitKind,
    found: Classification,
    event_id: str,
) -> dict:
    individual = message.tracking == "individual"
    row = message.event_base | {
        "event_id": event_id,
        "ts": utc_text(visit.now, sep=" "),
        "kind": kind.value,
        "agent_class": found.agent_class.value,
        "agent_reasons": [found.reason],
        "ua_family": found.ua_family,
    }
    if individual:
        # Aggregate mode keeps nothing that could single the reader out.
        row["user_agent"] = (visit.user_agent or "")[:MAX_USER_AGENT]
        row["ip_prefix"] = _prefix(visit.client_ip)
    return row


@lru_cache(maxsize=4096)
def _prefix(address: str | None) -> str:
    # Parsing an address is most of what a prefix costs; proxies and gateways repeat theirs.
    return ip_prefix(address) or ""


def _correction(message: TrackedMessage, event_id: str, reason: str, now: datetime) -> dict:
    return {
        "event_id": event_id,
        "ts": utc_text(now, sep=" "),
        "campaign": message.campaign,
        "message_id": message.id,
        "agent_class": "security_scanner",
        "agent_reason": reason,
    }


def _burst_reason(link: tokens.Click | None, found: Classification) -> str:
    """The reason a burst gives the earlier hits it reclassifies: ``burst:<pattern>``.

    The current hit names the pattern unless an earlier rule named it first: a honeypot
    click is ``honeypot_link``, a hit in the send-time scan ``within_2s_of_send``, a
    vendor's own hit ``known_scanner:<vendor>`` (which can only have started the
    every-link pattern: a scanner network starts no burst, pixel.bursts).
    """
    if link is not None and link.url is None:
        return "burst:honeypot_link"
    if found.reason.startswith("burst:"):
        return found.reason
    if found.reason == "within_2s_of_send":
        return "burst:send_time"
    return "burst:all_links"
