"""Retention: delete what has been kept for its configured period, daily and on demand.

- ``PRIVACY_MESSAGE_DAYS`` (default 400, as ClickHouse keeps raw events): a message row
  maps a token to its recipient; past this age its pixel and links log nothing anyway.
- ``PRIVACY_REQUEST_YEARS`` (default 3): closed requests and their actions (the proof
  that a request was answered; limitation periods run about three years).
- ``PRIVACY_CONSENT_RECORD_YEARS`` (default 0: kept): consent records this long after
  they lapsed. Off by default because removing records breaks their site's hash chain
  for ``verify``; turn it on where the limitation period matters more than the chain.
- Unverified requests expire after ``PRIVACY_UNVERIFIED_DAYS`` (default 7).

ClickHouse drops raw events itself (table TTL, 400 days; UA and IP columns 30 days).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import and_, delete, or_

from consent.models import ConsentRecord
from core.db import db
from pixel.models import Message
from privacy import ledger
from privacy.models import PrivacyRequest

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
    removed["messages"] = session.execute(
        delete(Message).where(Message.created_at < now - timedelta(days=periods.message_days))
    ).rowcount
    removed["requests"] = session.execute(
        delete(PrivacyRequest).where(
            PrivacyRequest.closed_at.is_not(None),
            PrivacyRequest.closed_at < now - timedelta(days=365 * periods.request_years),
        )
    ).rowcount
    removed["consent_records"] = 0
    if periods.consent_record_years:
        cutoff = now - timedelta(days=365 * periods.consent_record_years)
        removed["consent_records"] = session.execute(
            delete(ConsentRecord).where(
                or_(
                    ConsentRecord.expires_at < cutoff,
                    # A session-lifetime decision lapses with its browser session.
                    and_(ConsentRecord.expires_at.is_(None), ConsentRecord.created_at < cutoff),
                )
            )
        ).rowcount
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
