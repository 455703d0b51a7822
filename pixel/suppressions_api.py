"""``GET /api/v1/suppressions``: the unsubscribes and tracking opt-outs, for sending systems.

A sending system keeps the last ``next`` cursor and asks again with it: it gets each
suppression once, in the order they were recorded, and none is skipped however many are
added while it pages (pixel.suppressions).
"""

import re

from flask import Blueprint, current_app, request

from core import jsoncodec
from core.auth import require_api_key
from core.db import db
from core.errors import BadRequest, NotFound
from core.times import api_time
from pixel.schemas import LIST_NAME, SITE_ID
from pixel.suppressions import (
    CURSOR_RE,
    MAX_LIMIT,
    FeedItem,
    FeedQuery,
    decode_cursor,
    encode_cursor,
    read_feed,
)

bp = Blueprint("email_suppressions", __name__, url_prefix="/api/v1")
_LIST = re.compile(LIST_NAME)
_SITE = re.compile(SITE_ID)
_CURSOR = re.compile(CURSOR_RE)


@bp.get("/suppressions")
@require_api_key
def list_suppressions():
    """Answer the suppressions recorded after ``since``, oldest first, and the next cursor."""
    query = _feed_query()
    with db.engine.connect() as conn:
        page = read_feed(conn, query)
    body = {
        "suppressions": [_item(item) for item in page.items],
        "next": encode_cursor(page.next_after),
        "more": page.more,
    }
    response = current_app.response_class(jsoncodec.compact(body), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"  # recipients' ids and choices
    return response


def _feed_query() -> FeedQuery:
    args = request.args
    since = args.get("since")
    if since is not None and not _CURSOR.fullmatch(since):
        raise BadRequest(f"since: {since!r} is not a cursor", code="invalid_cursor")
    list_name = _matching(args.get("list"), _LIST, "list")
    site = _matching(args.get("site"), _SITE, "site")
    if site is not None and current_app.extensions["sites"].get(site) is None:
        raise NotFound(f"no site {site!r}", code="unknown_site")
    limit_text = args.get("limit", "100")
    if not limit_text.isascii() or not limit_text.isdigit() or len(limit_text) > 4:
        raise BadRequest(f"limit: {limit_text!r} is not a whole number", code="invalid_limit")
    limit = int(limit_text)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: between 1 and {MAX_LIMIT}", code="invalid_limit")
    after = decode_cursor(since) if since is not None else 0
    return FeedQuery(after=after, list=list_name, site=site, limit=limit)


def _matching(value: str | None, pattern: re.Pattern, name: str) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise BadRequest(f"{name}: {value!r} does not match {pattern.pattern}", code="invalid")
    return value


def _item(item: FeedItem) -> dict:
    """One suppression, as SuppressionOut documents it."""
    return {
        "cursor": encode_cursor(item.id),
        "kind": item.kind,
        "site": item.site,
        "list": item.list,
        "recipient": item.recipient,
        "method": item.method,
        "message_id": item.message_id,
        "created_at": api_time(item.created_at),
        "lifted_at": api_time(item.lifted_at) if item.lifted_at is not None else None,
    }
