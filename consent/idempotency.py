"""Idempotency keys of decisions: a retried request answers its first record again.

The ``Idempotency-Key`` header (IETF httpapi draft) names one decision of one client. Its
value is a structured-field string (``"8e03…"``); a bare token is read too, as clients
send both. A key is kept per site with the fingerprint of its request's body for 24 h:
the same key and body answer the first record again, the same key with another body is
refused. The key's row is written in the transaction of its record (consent.chain), so of
two requests racing with one key, one record is made and the other answers it.
"""

import hashlib
import re
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Engine, bindparam, delete, select

from consent.models import IdempotencyKey
from core import jsoncodec
from core.db import DirectStatement, db, read_one, write_transaction
from core.errors import BadRequest, Unprocessable

TTL = timedelta(hours=24)
MAX_LENGTH = 255  # the column's size
# Printable ASCII but space, '"' and '\' (which a quoted key escapes), as in RFC 8941.
_PLAIN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_QUOTED = re.compile(r'"((?:[\x21\x23-\x5b\x5d-\x7e]|\\["\\])+)"')
_ESCAPE = re.compile(r'\\(["\\])')
_PURGE_EVERY = timedelta(minutes=10)

# Read on every decision that carries a key (the banner sends one with each): on the
# direct path, with the 24 hours compared in SQL, so that no time needs reading back.
_FIND = DirectStatement(
    select(
        IdempotencyKey.fingerprint,
        IdempotencyKey.record_id,
        IdempotencyKey.created_at > bindparam("cutoff"),
    ).where(IdempotencyKey.site_id == bindparam("site"), IdempotencyKey.key == bindparam("key"))
)


@dataclass(frozen=True)
class RequestKey:
    """A request's Idempotency-Key and the fingerprint of its body."""

    key: str
    fingerprint: str


def parse_key(header: str) -> str:
    """Read an Idempotency-Key header: 1 to 255 visible ASCII characters, quoted or not."""
    text = header.strip(" \t")
    quoted = _QUOTED.fullmatch(text)
    key = _ESCAPE.sub(r"\1", quoted.group(1)) if quoted else text
    if not (quoted or _PLAIN.fullmatch(text)) or len(key) > MAX_LENGTH:
        raise BadRequest(
            f"an Idempotency-Key is 1 to {MAX_LENGTH} visible ASCII characters, as a "
            'quoted string ("…") or bare',
            code="invalid_idempotency_key",
        )
    return key


def request_key(key: str, body: BaseModel) -> RequestKey:
    """Pair a key with the SHA-256 of its body's canonical JSON (the same content, same hash)."""
    content = jsoncodec.canonical(body.model_dump(mode="json"))
    return RequestKey(key, hashlib.sha256(content).hexdigest())


def recorded(site_id: str, request: RequestKey, now: datetime) -> str | None:
    """Return the record id an earlier request with this key made, or None.

    Raises Unprocessable when that request had another body. A key older than 24 h no
    longer counts: its row is removed so the new decision can take the key.
    """
    params = {"site": site_id, "key": request.key, "cutoff": now - TTL}
    row = read_one(db.engine, _FIND, params)
    if row is None:
        return None
    fingerprint, record_id, fresh = row
    if not fresh:
        _forget(site_id, request.key, now)
        return None
    if fingerprint != request.fingerprint:
        raise Unprocessable(
            "this Idempotency-Key was used with another request body; use a new key "
            "for a new decision",
            code="idempotency_key_reused",
        )
    return record_id


def _forget(site_id: str, key: str, now: datetime) -> None:
    with write_transaction() as conn:
        conn.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.site_id == site_id,
                IdempotencyKey.key == key,
                IdempotencyKey.created_at <= now - TTL,  # not one another request just wrote
            )
        )


_next_purge: "weakref.WeakKeyDictionary[Engine, datetime]" = weakref.WeakKeyDictionary()


def purge_expired(now: datetime) -> None:
    """Delete keys older than 24 h, at most every 10 minutes per database."""
    engine = db.engine
    due = _next_purge.get(engine)
    if due is not None and now < due:
        return
    _next_purge[engine] = now + _PURGE_EVERY
    with write_transaction() as conn:
        conn.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - TTL))
