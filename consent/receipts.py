"""Consent receipts: a signed summary of one record that the visitor keeps as proof."""

from core import signing
from core.times import as_utc

PURPOSE = "receipt"


def issue_receipt(keys: list[str], record) -> str:
    """Sign the facts of ``record`` that a visitor or auditor needs to check it later."""
    expires = as_utc(record.expires_at)
    return signing.serializer(keys, PURPOSE).dumps(
        {
            "record_id": record.record_id,
            "consent_id": record.consent_id,
            "site": record.site_id,
            "action": record.action,
            "choices": record.choices,
            "lifetime": record.lifetime,
            "policy_version": record.policy_version,
            "created_at": as_utc(record.created_at).isoformat(),
            "expires_at": expires.isoformat() if expires else None,
            "hash": record.hash,
        }
    )


def read_receipt(keys: list[str], receipt: str) -> dict | None:
    """Return a receipt's content if one of our keys signed it, else None."""
    data = signing.load(keys, PURPOSE, receipt)
    return data if isinstance(data, dict) else None
