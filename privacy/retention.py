"""Retention: remove what has been kept for its configured period, daily and on demand.

- ``PRIVACY_MESSAGE_DAYS`` (default 400, as ClickHouse keeps raw events): a message row
  maps a token to its recipient; past this age its pixel and links log nothing anyway.
- ``PRIVACY_REQUEST_YEARS`` (default 3): closed requests and their actions (the proof
  that a request was answered; limitation periods run about three years).
- ``PRIVACY_CONSENT_RECORD_YEARS`` (default 3, the same reasoning; 0: kept): consent
  records are redacted this long after they lapsed — their content cleared, their place
  in their site's hash chain kept, so ``verify`` still holds (``consent.redaction``).
- Unverified requests expire after ``PRIVACY_UNVERIFIED_DAYS`` (default 7).

Each half removes its own rows (``pixel.subjects``, ``consent.redaction``); this module
only says when. ClickHouse drops raw events itself (table TTL, 400 days; UA and IP
columns 30 days).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask

from consent.redaction import redact_lapsed
from core.db import db
from pixel.subjects import forget_messages
from privacy import ledger

DAY = 86_400.0


@dataclass(frozen=True)
class Periods:
    message_days: int
    request_years: int
    consent_record_years: int  # 0: kept
    unverified_days: int

    @classmethod
    def from_config(cls, cfg) -> "Periods":
        return cls(
            cfg["PRIVACY_MESSAGE_DAYS"],
            cfg["PRIVACY_REQUEST_YEARS"],
            cfg["PRIVACY_CONSENT_RECORD_YEARS"],
            cfg["PRIVACY_UNVERIFIED_DAYS"],
        )


def run(periods: Periods, now: datetime) -> dict[str, int]:
    """Apply every period once; return how many rows went, per kind."""
    removed = {
        "expired_requests": ledger.expire_unverified(now, timedelta(days=periods.unverified_days))
    }
    removed["lapsed_exports"] = ledger.close_lapsed_exports(now)
    session = db.session
    removed["messages"] = forget_messages(
        session.connection(), now - timedelta(days=periods.message_days)
    )
    removed["requests"] = ledger.purge_closed(now - timedelta(days=365 * periods.request_years))
    session.commit()  # before the redaction's own transactions (SQLite has one writer)
    removed["consent_records_redacted"] = 0
    if periods.consent_record_years:
        lapsed_before = now - timedelta(days=365 * periods.consent_record_years)
        removed["consent_records_redacted"] = redact_lapsed(lapsed_before, now)
    if any(removed.values()):
        ledger.audit("retention", ledger.SYSTEM, None, removed, now)
    session.commit()
    return removed


def install(app: Flask) -> None:
    """Run retention daily in the server, on the event shipper's periodic tasks."""

    def daily() -> None:
        with app.app_context():
            run(Periods.from_config(app.config), datetime.now(UTC))

    app.extensions["events"].add_periodic("privacy_retention", daily, DAY)
