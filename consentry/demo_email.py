"""The demo shop's "Email" tab: mint a newsletter for one sample recipient and watch it live.

The tab shows the email half working end to end on this server: the newsletter is minted
by the same domain functions as ``POST /api/v1/messages/render`` (pixel.messages.mint,
pixel.links), so its pixel, tracked links and unsubscribe URL are real and
point at ``CONSENTRY_PUBLIC_URL``; the visitor opens it, clicks, unsubscribes in one
click, and the events are read back from ClickHouse as they are shipped.

The routes act on one fixed recipient (``ada`` of the ``demo`` site) and nobody else,
and only while the sites file has the ``demo`` site (the bundled one; a production sites
file without it turns the tab off). No API key reaches the browser: the page's POSTs
carry no authority but their origin, so they are refused unless ``Origin`` (or, without
one, ``Sec-Fetch-Site``) says this very origin sent them, and they need a JSON body,
which another site's form cannot send. Writes and reads are rate limited per process, so
an anonymous visitor cannot flood the stores through the demo.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, or_, select, update
from werkzeug.exceptions import RequestEntityTooLarge

from core import signing
from core.db import db, write_transaction
from core.errors import ConsentryError, Forbidden, NotFound, Unavailable
from core.requests import parse_body
from core.times import api_time
from events import SpoolFull
from pixel import identity
from pixel import render as rendering
from pixel.links import MessageLinks
from pixel.messages import Mailing, Minted, mint
from pixel.models import Recipient, Suppression
from pixel.recipients import Addressee, set_tracking

log = logging.getLogger(__name__)
bp = Blueprint("email", __name__, url_prefix="/demo/email")

SITE = "demo"


@dataclass(frozen=True)
class SampleRecipient:
    recipient: str  # the sending system's id
    email: str
    name: str


@dataclass(frozen=True)
class Newsletter:
    campaign: str
    list: str
    sender: str
    subject: str
    template: str


SAMPLE = SampleRecipient("ada", "ada@example.com", "Ada Lovelace")
NEWSLETTER = Newsletter(
    campaign="demo-newsletter",
    list="newsletter",
    sender="Nordlicht Coffee <news@nordlicht.example>",
    subject="The December roasts are here ☕",
    template="demo/newsletter.html",
)
WATCH = "demo.email.watch"  # the salt of the tokens that let a page follow its own messages
MAX_WATCHED = 20
EVENTS_SHOWN = 40


class TooManyRequests(ConsentryError):
    status, code = 429, "too_many_requests"


class ConsentIn(BaseModel):
    """What the page's reset sets the sample recipient's tracking consent to."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    consent: Literal["granted", "unknown", "denied"]


class MintIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Bucket:
    """A token bucket: ``rate`` requests a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._at = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take one token; False when the bucket is empty."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


@dataclass(frozen=True)
class Limits:
    """Per-process budgets of the demo routes: writes (mint, reset) and event reads."""

    writes: Bucket
    reads: Bucket


@bp.record_once
def _install(state) -> None:
    app: Flask = state.app
    app.extensions["demo_email.limits"] = Limits(
        writes=Bucket(rate=0.5, burst=12),  # 30 a minute, a dozen at once
        reads=Bucket(rate=8.0, burst=16),  # a few pages polling every 1.5 s
    )


def _limit(kind: str) -> None:
    limits: Limits = current_app.extensions["demo_email.limits"]
    if not getattr(limits, kind).take():
        raise TooManyRequests("the demo is busy: try again in a few seconds")


def _enabled() -> None:
    if current_app.extensions["sites"].get(SITE) is None:
        raise NotFound("the email demo needs the bundled demo site", code="demo_disabled")


def _same_origin() -> None:
    """Refuse a request another origin sent (the page's POSTs carry no other authority)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin != request.host_url.rstrip("/"):
            raise Forbidden("cross-origin requests are refused", code="cross_origin")
        return
    if request.headers.get("Sec-Fetch-Site") != "same-origin":
        raise Forbidden("send the request from the demo page itself", code="cross_origin")


def _json_errors(view):
    """Answer the view's errors as JSON, as the API does, for the page's script to read.

    Only the view's own: what the app refuses before a view runs (a method, OPTIONS)
    gets the app's error page, as on every path outside ``/api/`` (core.errors).
    """

    @wraps(view)
    def answered(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ConsentryError as error:
            response = jsonify(error={"code": error.code, "message": error.message})
            response.status_code = error.status
            return response
        except RequestEntityTooLarge as error:
            response = jsonify(error={"code": "payload_too_large", "message": error.description})
            response.status_code = 413
            return response

    return answered


def _no_store(response: Response) -> Response:
    # Tokens in these answers act for the sample recipient: nothing keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


# --- minting ---------------------------------------------------------------------------


def _rendered(minted: Minted, links: MessageLinks) -> dict:
    """The message as the render API answers it (pixel, links, headers, HTML), with the
    visible tracked links listed for the page."""
    answer = links.rendered(minted, _newsletter_html(links.base))
    return answer | {"links": _links(answer["html"], links.base)}


def _newsletter_html(shop_url: str) -> str:
    """The newsletter as its sender wrote it: links to the shop, the unsubscribe placeholder."""
    # Given as a value, the placeholder reaches the HTML as written, for render to fill.
    return render_template(
        NEWSLETTER.template,
        newsletter=NEWSLETTER,
        sample=SAMPLE,
        shop=shop_url,
        unsubscribe_url=rendering.PLACEHOLDERS[0],
    )


@bp.post("/mint")
@_json_errors
def mint_sample():
    """Mint and render the newsletter for the sample recipient, as the render API would."""
    _enabled()
    _same_origin()
    parse_body(MintIn)
    _limit("writes")
    cfg = current_app.config
    mailing = Mailing(SITE, NEWSLETTER.campaign, NEWSLETTER.list, send=True)
    (minted,) = mint(
        mailing,
        [Addressee(SAMPLE.recipient, SAMPLE.email)],
        keys=cfg["SECRET_KEYS"],
        consent_required=cfg["EMAIL_TRACKING_CONSENT"] == "required",
        events=current_app.extensions["events"],
        now=datetime.now(UTC),
    )
    answer = _rendered(minted, MessageLinks(cfg["SECRET_KEYS"], cfg["PUBLIC_URL"], mailing))
    # In aggregate and none modes the events carry no recipient, and in aggregate mode
    # nothing stored ties the pixel's id to Ada: only this page, which minted the message,
    # may follow the id its events carry (SPEC §3.1).
    answer["watch"] = _watch_token(cfg["SECRET_KEYS"], minted.tracked_id or minted.message_id)
    return _no_store(jsonify(answer)), 201


class _LinkFinder(HTMLParser):
    """The visible tracked links of a rendered email, with their text (not the honeypot)."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix
        self.found: list[dict[str, str]] = []
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href") or ""
        if tag == "a" and href.startswith(self.prefix):
            self._open = {"url": href, "text": ""}

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "a" and self._open is not None:
            text = " ".join(self._open["text"].split())
            if text:  # the honeypot is empty
                self.found.append({"url": self._open["url"], "text": text})
            self._open = None


def _links(html: str, base: str) -> list[dict[str, str]]:
    finder = _LinkFinder(f"{base}/c/")
    finder.feed(html)
    finder.close()
    return finder.found


# --- the sample recipient ----------------------------------------------------------------


@bp.post("/recipient")
@_json_errors
def reset_sample():
    """Reset the sample recipient: subscribed again, with the tracking consent asked for."""
    _enabled()
    _same_origin()
    body = parse_body(ConsentIn)
    _limit("writes")
    events = current_app.extensions["events"]
    if not events.has_room():
        raise SpoolFull()
    keys = current_app.config["SECRET_KEYS"]
    now = datetime.now(UTC)
    with write_transaction() as conn:
        _lift_unsubscribes(conn, keys, now)
        _, event = set_tracking(conn, keys, SITE, SAMPLE.recipient, body.consent, "api", now)
    if event is not None:
        events.emit("email_events", event)
    return _no_store(jsonify(_standing(keys)))


def _lift_unsubscribes(conn: Connection, keys: list[str], now: datetime) -> None:
    """Lift the sample recipient's unsubscribes (kept in the feed, as lifted)."""
    conn.execute(
        update(Suppression)
        .where(
            Suppression.site == SITE,
            Suppression.kind == "unsubscribe",
            Suppression.lifted_at.is_(None),
            or_(
                Suppression.recipient == SAMPLE.recipient,
                Suppression.email_hash.in_(identity.email_hashes(keys, SAMPLE.email)),
            ),
        )
        .values(lifted_at=now)
    )


def _standing(keys: list[str]) -> dict:
    """The sample recipient now: tracking consent, and the suppressions in force."""
    with db.engine.connect() as conn:
        consent = conn.execute(
            select(Recipient.tracking_consent).where(
                Recipient.site == SITE, Recipient.external_id == SAMPLE.recipient
            )
        ).scalar()
        in_force = conn.execute(
            select(Suppression.kind, Suppression.list).where(
                Suppression.site == SITE,
                Suppression.lifted_at.is_(None),
                or_(
                    Suppression.recipient == SAMPLE.recipient,
                    Suppression.email_hash.in_(identity.email_hashes(keys, SAMPLE.email)),
                ),
            )
        ).all()
    return {
        "recipient": SAMPLE.recipient,
        "email": SAMPLE.email,
        "consent": consent or "unknown",
        "unsubscribed": sorted({lst for kind, lst in in_force if kind == "unsubscribe"}),
        "tracking_optout": any(kind == "tracking_optout" for kind, _ in in_force),
    }


# --- events as they arrive ---------------------------------------------------------------

EVENTS = """
SELECT e.ts, e.kind, e.tracking, e.recipient != '' AS named, e.message_id,
       if(r.event_id = e.event_id, r.agent_class, e.agent_class) AS agent_class,
       if(r.event_id = e.event_id, [r.agent_reason], e.agent_reasons) AS reasons,
       e.url, e.method, e.list
FROM email_events AS e
LEFT JOIN email_reclassified AS r ON r.event_id = e.event_id
WHERE e.site = {site:String}
  AND (e.recipient = {pseudonym:String} OR e.message_id IN {watched:Array(String)})
ORDER BY e.ts DESC, e.kind
LIMIT {shown:UInt32}
"""
DROPS = """
SELECT reason, sum(hits) FROM dropped_hits
WHERE source IN ('email_open', 'email_click') GROUP BY reason
"""


@bp.get("/events")
@_json_errors
def sample_events():
    """The sample recipient's latest email events (and those of this page's own pixels)."""
    _enabled()
    _limit("reads")
    keys = current_app.config["SECRET_KEYS"]
    watched = [w for t in request.args.getlist("w")[:MAX_WATCHED] if (w := _watched(keys, t))]
    store = current_app.extensions["events"].clickhouse
    parameters = {
        "site": SITE,
        "pseudonym": identity.pseudonym(keys, SITE, SAMPLE.recipient),
        "watched": watched,
        "shown": EVENTS_SHOWN,
    }
    try:
        rows = store.query(EVENTS, parameters)
        drops = {reason: int(hits) for reason, hits in store.query(DROPS)}
    except Exception as error:  # whatever the client raises: the page shows it is not live
        log.warning("demo email events not read: %s: %s", type(error).__name__, error)
        raise Unavailable("the event store is not answering", code="events_unavailable") from error
    events = [
        {
            "ts": api_time(ts),
            "kind": kind,
            "tracking": tracking,
            "names_recipient": bool(named),
            "message_id": message_id,
            "agent_class": agent_class or None,
            "reasons": list(reasons),
            "url": url or None,
            "method": method or None,
            "list": list_name or None,
        }
        for ts, kind, tracking, named, message_id, agent_class, reasons, url, method, list_name in (
            rows
        )
    ]
    answer = {"recipient": _standing(keys), "events": events, "dropped": drops}
    return _no_store(jsonify(answer))


def _watch_token(keys: list[str], tracked_id: str) -> str:
    token = signing.serializer(keys, WATCH).dumps(tracked_id)
    return token.decode("ascii") if isinstance(token, bytes) else token


def _watched(keys: list[str], token: str) -> str | None:
    value = signing.load(keys, WATCH, token)
    return value if isinstance(value, str) else None


# --- the page ------------------------------------------------------------------------------


def _public_origin() -> str:
    parts = urlsplit(current_app.config["PUBLIC_URL"])
    return f"{parts.scheme}://{parts.netloc}"


def other_origins() -> tuple[str, ...]:
    """The public URL's origin when the page is read under another name (localhost, say).

    Minted URLs name the public URL; the page's policy must let the email's pixel load
    from there, and the one-click POST go there.
    """
    public = _public_origin()
    return () if public == request.host_url.rstrip("/") else (public,)


def page_context() -> dict:
    """What the tab's template needs besides the shop's chrome."""
    return {
        "sample": SAMPLE,
        "newsletter": NEWSLETTER,
        "public_url": current_app.config["PUBLIC_URL"],
        "public_origin_differs": bool(other_origins()),
        "tracking_consent_policy": current_app.config["EMAIL_TRACKING_CONSENT"],
    }
