"""The email API: mint messages (one, a batch, or into an email's HTML), set tracking consent."""

import logging
from datetime import UTC, datetime

from flask import Blueprint, current_app, request

from core import jsoncodec
from core.auth import require_api_key
from core.db import write_transaction
from core.errors import BadRequest, NotFound
from core.requests import parse_body
from core.times import api_time
from events import SpoolFull
from pixel.links import MessageLinks
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


def _links(mailing: Mailing) -> MessageLinks:
    cfg = current_app.config
    return MessageLinks(cfg["SECRET_KEYS"], cfg["PUBLIC_URL"], mailing)


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
    return _json(_links(mailing).answer(minted), 201)


@bp.post("/messages/batch")
@require_api_key
def create_messages():
    """Mint one campaign's messages for up to 10,000 recipients, in the request's order."""
    body = parse_body(BatchIn, limit=BATCH_BODY_LIMIT)
    mailing, minted = _mint(body, [Addressee(r.recipient, r.email) for r in body.recipients])
    links = _links(mailing)
    answers = [links.answer(m) | {"recipient": m.recipient} for m in minted]
    return _json({"messages": answers}, 201)


@bp.post("/messages/render")
@require_api_key
def render_message():
    """Mint one message and put its pixel, tracked links and unsubscribe URL into its HTML."""
    body = parse_body(RenderIn, limit=RENDER_BODY_LIMIT)
    mailing, (minted,) = _mint(body, [Addressee(body.recipient, body.email)])
    return _json(_links(mailing).rendered(minted, body.html), 201)


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
