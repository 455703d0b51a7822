"""The seams of the event side: what the domain emits to, what the shipper writes to."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, Protocol

# Why a hit was not turned into an event; each is counted in ``dropped_hits``.
DropReason = Literal["invalid", "opted_out", "signal", "head", "spool_full"]


class EventSink(Protocol):
    """Where the domain sends its events: spooled before a response, shipped later."""

    def emit(self, table: str, row: dict[str, Any]) -> None:
        """Spool one event row; raise SpoolFull if the spool has no room."""
        ...

    def count_drop(self, reason: DropReason, source: str) -> None:
        """Count one hit that was dropped, by source and reason."""
        ...

    def has_room(self) -> bool:
        """Tell whether the spool is under its disk budget."""
        ...


class EventLedger(EventSink, Protocol):
    """An event sink that can also tell which events it has never been given or kept."""

    def missing_events(
        self, table: str, event_ids: Iterable[str], since: datetime | None = None
    ) -> set[str]:
        """Return the ids neither in ClickHouse's ``table`` nor waiting in a spool."""
        ...


class EventStore(Protocol):
    """Where the shipper writes batches of spooled rows, and reads back what it has."""

    def insert_json(self, table: str, lines: bytes, token: str) -> None:
        """Insert JSONEachRow lines; a retry with the same token is deduplicated."""
        ...

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a SELECT with bound ``{name:Type}`` parameters; return its rows."""
        ...
