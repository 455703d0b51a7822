"""API key creation goes to the audit log, whichever way the key was made.

``core.keys`` stands below every part and knows no audit log; this listens for new key
rows instead, and writes its entry in the same transaction, so a key never exists
without its entry.
"""

from datetime import UTC, datetime

from sqlalchemy import event, insert

from core.keys import ApiKey
from privacy.models import AuditEntry

_installed = False


def _key_created(_mapper, connection, key: ApiKey) -> None:
    connection.execute(
        insert(AuditEntry).values(
            action="api_key_created",
            actor="operator",
            target=key.name,
            detail={"lookup": key.lookup},
            at=key.created_at or datetime.now(UTC),
        )
    )


def install() -> None:
    """Listen for new API keys (once per process: listeners are per class, not per app)."""
    global _installed
    if not _installed:
        event.listen(ApiKey, "after_insert", _key_created)
        _installed = True
