"""The email API: mint messages (one, a batch, or into an email's HTML), set tracking consent."""

import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, request

from core import jsoncodec
from core.auth import require_api_key
from core.db import write_transaction
from core.errors import BadRequest, NotFound
from core.requests import parse_body
from core.times import api_time
from events import SpoolFull
from pixel import render as rendering
from pixel import tokens
from pixel.messages import Mailing, Minted, mint
from pixel.recipients import Addressee, set_tracking
from pixel.schemas import (
    MAX_BATCH,
    MAX_RECIPIENT_ID,
    RECIPIENT_ID_RE,
    BatchIn,
    MessageIn,
    RenderIn,
    TrackingIn,
)

log = logging.getLogger(__name__)
bp = Blueprint("email_api", __name__, url_prefix="/api/v1")

# The byte budgets of the bodies bigger than the 16 KB every other request gets: a batch of
# 10,000 recipients with long ids and addresses, and an email (Gmail clips past 102 KB).
BATCH_BODY_LIMIT = MAX_BATCH * 640
RENDER_BODY_LIMIT = 2 * 1024 * 1024


def _site(site_id: str | None) -> str:
    """The site a request names, or the sites file's first; 404 for one it does not have."""
    sites = current_app.extensions["sites"].sites
    if site_id is None:
        return next(iter(sites))
    if site_id not in sites:
        raise NotFound(f"no site {site_id!r}", code="unknown_site")
    return site_id


def _recipient_id(value: str) -> str:
    if not 1 <= len(value) <= MAX_RECIPIENT_ID or not RECIPIENT_ID_RE.fullmatch(value):
        raise BadRequest(
            f"a recipient id is 1 to {MAX_RECIPIENT_ID} characters, none of them control "
            "characters",
            code="invalid_recipient",
        )
    return value


def _mint(body: MessageIn | BatchIn, addressees: list[Addressee]) -> tuple[Mailing, list[Minted]]:
    cfg = current_app.config
    mailing = Mailing(_site(body.site), body.campaign, body.list, body.send)
    minted = mint(
        mailing,
        addressees,
        keys=cfg["SECRET_KEYS"],
        consent_required=cfg["EMAIL_TRACKING_CONSENT"] == "required",
        events=current_app.extensions["events"],
        now=datetime.now(UTC),
    )
    return mailing, minted


class _Links:
    """The URLs and headers of minted messages, under this install's public URL."""

    def __init__(self, mailing: Mailing):
        cfg = current_app.config
        self.keys: list[str] = cfg["SECRET_KEYS"]
        self.base: str = cfg["PUBLIC_URL"]
        host = urlsplit(self.base).hostname or "localhost"
        self.list_id = f"<{mailing.list}.{mailing.site}.{host}>"

    def pixel_url(self, tracked_id: str) -> str:
        return f"{self.base}/o/{tokens.sign_message(self.keys, tokens.OPEN, tracked_id)}.gif"

    def click_url(self, tracked_id: str, url: str | None) -> str:
        return f"{self.base}/c/{tokens.sign_click(self.keys, tracked_id, url)}"

    def unsubscribe_url(self, message_id: str) -> str:
        token = tokens.sign_message(self.keys, tokens.UNSUBSCRIBE, message_id)
        return f"{self.base}/u/{token}"

    def answer(self, m: Minted) -> dict:
        """A message's answer, as MessageOut documents it."""
        unsubscribe_url = self.unsubscribe_url(m.message_id)
        pixel_url = self.pixel_url(m.tracked_id) if m.tracked_id else None
        return {
            "message_id": m.message_id,
            "tracking": m.tracking,
            "suppressed": m.suppressed,
            "pixel_url": pixel_url,
            "pixel_html": rendering.pixel_html(pixel_url) if pixel_url else None,
            "unsubscribe_url": unsubscribe_url,
            "headers": {
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": self.list_id,
            },
        }


def _json(body: object, status: int):
    response = current_app.response_class(
        jsoncodec.compact(body), status=status, mimetype="application/json"
    )
    # Unsubscribe URLs act for their recipient, and consent states are personal.
    response.headers.add("Cache-Control", "no-store")
    return response


@bp.post("/messages")
@require_api_key
def create_message():
    """Mint one message: its mode, pixel, unsubscribe URL and list headers."""
    body = parse_body(MessageIn)
    mailing, (minted,) = _mint(body, [Addressee(body.recipient, body.email)])
    return _json(_Links(mailing).answer(minted), 201)


@bp.post("/messages/batch")
@require_api_key
def create_messages():
    """Mint one campaign's messages for up to 10,000 recipients, in the request's order."""
    body = parse_body(BatchIn, limit=BATCH_BODY_LIMIT)
    mailing, minted = _mint(body, [Addressee(r.recipient, r.email) for r in body.recipients])
    links = _Links(mailing)
    answers = [links.answer(m) | {"recipient": m.recipient} for m in minted]
    return _json({"messages": answers}, 201)


@bp.post("/messages/render")
@require_api_key
def render_message():
    """Mint one message and put its pixel, tracked links and unsubscribe URL into its HTML."""
    body = parse_body(RenderIn, limit=RENDER_BODY_LIMIT)
    mailing, (minted,) = _mint(body, [Addressee(body.recipient, body.email)])
    links = _Links(mailing)
    answer = links.answer(minted)
    tracking = None
    if (tracked_id := minted.tracked_id) is not None:
        tracking = rendering.Tracking(
            pixel_html=answer["pixel_html"],
            honeypot_url=links.click_url(tracked_id, None),
            wrap=lambda url: links.click_url(tracked_id, url),
        )
    html = rendering.render(body.html, answer["unsubscribe_url"], tracking)
    return _json(answer | {"html": html}, 201)


@bp.post("/recipients/<path:recipient>/tracking")
@require_api_key
def set_recipient_tracking(recipient: str):
    """Set whether a recipient's opens and clicks may be tracked (applies to mail already sent)."""
    external_id = _recipient_id(recipient)
    body = parse_body(TrackingIn)
    site = _site(request.args.get("site"))
    events = current_app.extensions["events"]
    if not events.has_room():
        raise SpoolFull()  # checked first: a full spool leaves the consent as it was
    now = datetime.now(UTC)
    with write_transaction() as conn:
        state, event = set_tracking(
            conn, current_app.config["SECRET_KEYS"], site, external_id, body.consent, "api", now
        )
    if event is not None:
        try:
            events.emit("email_events", event)
        except (SpoolFull, OSError) as error:
            # Committed is decided: the opt-out holds (checked at every hit) without its event.
            log.error("a tracking opt-out is stored but its event was not spooled: %s", error)
            events.count_drop("spool_full", "email")
    answer = {
        "site": state.site,
        "recipient": state.recipient,
        "consent": state.consent,
        "changed_at": api_time(now),
        "method": state.method,
    }
    return _json(answer, 200)
