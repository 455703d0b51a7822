"""Consent receipts: a signed summary of one record that the visitor keeps as proof."""

from datetime import datetime

from consent.chain import record_hash
from consent.models import ConsentRecord, NewRecord
from core import signing
from core.times import api_time, as_utc

PURPOSE = "receipt"
# A receipt's fields that restate its record's columns (receipt name -> column).
_SAME = {
    "consent_id": "consent_id",
    "site": "site_id",
    "action": "action",
    "choices": "choices",
    "lifetime": "lifetime",
    "policy_version": "policy_version",
}
_TIMES = ("created_at", "expires_at")


def issue_receipt(keys: list[str], record: ConsentRecord | NewRecord) -> str:
    """Sign the facts of ``record`` that a visitor or auditor needs to check it later."""
    expires = record.expires_at
    return signing.dumps(
        keys,
        PURPOSE,
        {
            "record_id": record.record_id,
            "consent_id": record.consent_id,
            "site": record.site_id,
            "action": record.action,
            "choices": record.choices,
            "lifetime": record.lifetime,
            "policy_version": record.policy_version,
            "created_at": api_time(record.created_at),
            "expires_at": api_time(expires) if expires is not None else None,
            "hash": record.hash,
        },
    )


def read_receipt(keys: list[str], receipt: str) -> dict | None:
    """Return a receipt's content if one of our keys signed it, else None."""
    data = signing.load(keys, PURPOSE, receipt)
    return data if isinstance(data, dict) else None


def mismatches(receipt: dict, record: ConsentRecord | None) -> list[str]:
    """Name what differs between a receipt and its stored record; empty when they agree.

    ``"record_id"`` when no record has the receipt's id; ``"erased"`` when the record was
    redacted (its content is gone, so only its hash can still be compared); each receipt
    field the record no longer agrees with; ``"stored hash"`` when the record's content no
    longer gives the hash stored with it (an edit to a field the receipt does not carry
    shows there).
    """
    if record is None:
        return ["record_id"]
    if record.erased_at is not None:
        return ["erased"] + (["hash"] if receipt.get("hash") != record.hash else [])
    differ = [
        name for name, column in _SAME.items() if receipt.get(name) != getattr(record, column)
    ]
    # Instants, not strings: earlier releases wrote "+00:00" where receipts now write "Z".
    differ += [name for name in _TIMES if not _same_time(receipt.get(name), getattr(record, name))]
    if receipt.get("hash") != record.hash:
        differ.append("hash")
    if record_hash(record) != record.hash:
        differ.append("stored hash")
    return differ


def _same_time(text: object, stored: datetime | None) -> bool:
    if text is None or stored is None:
        return text is None and stored is None
    try:
        return as_utc(datetime.fromisoformat(text)) == as_utc(stored)
    except (TypeError, ValueError):
        return False  # not a time at all
