"""API keys: random secrets shown once, stored as SHA-256 digests, compared in constant time."""

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import db
from core.times import as_utc

PREFIX = "csk_"


class ApiKeyError(Exception):
    """Base for API key errors."""


class DuplicateKeyName(ApiKeyError):
    """An active key already has this name."""


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters identify a key for lookup and for people; they are not secret.
    lookup: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def _digest(key: str) -> str:
    # A 256-bit random secret needs no slow hash: no dictionary can guess it.
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(name: str, now: datetime | None = None) -> str:
    """Store a new key under ``name`` and return the secret; it is never stored or shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiKeyError("a key name must be 1 to 100 characters")
    active = db.select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    if db.session.scalars(active).first() is not None:
        raise DuplicateKeyName(f"an active key named {name!r} exists; revoke it first")
    lookup = secrets.token_hex(6)
    key = f"{PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
    db.session.add(
        ApiKey(name=name, lookup=lookup, digest=_digest(key), created_at=now or datetime.now(UTC))
    )
    db.session.commit()
    return key


def authenticate(key: str, now: datetime | None = None) -> ApiKey | None:
    """Return the active key matching ``key``, or None."""
    if not key.startswith(PREFIX):
        return None
    lookup = key[len(PREFIX) :].partition("_")[0]
    row = db.session.scalars(db.select(ApiKey).where(ApiKey.lookup == lookup)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.digest, _digest(key)):
        return None
    now = now or datetime.now(UTC)
    # Written at most once a minute per key, so authenticated reads stay reads.
    last = as_utc(row.last_used_at)
    if last is None or (now - last).total_seconds() > 60:
        row.last_used_at = now
        db.session.commit()
    return row


def revoke_key(name: str, now: datetime | None = None) -> int:
    """Revoke every active key named ``name``; return how many were revoked."""
    rows = db.session.scalars(
        db.select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    ).all()
    for row in rows:
        row.revoked_at = now or datetime.now(UTC)
    db.session.commit()
    return len(rows)


def list_keys() -> list[ApiKey]:
    """Return every key, newest first."""
    return list(db.session.scalars(db.select(ApiKey).order_by(ApiKey.id.desc())))
