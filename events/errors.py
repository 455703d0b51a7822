"""Errors the event pipeline raises on purpose."""

from core.errors import Unavailable


class SpoolFull(Unavailable):
    """The local spool is over its disk budget: the event was not accepted."""

    code = "spool_full"

    def __init__(self, message: str = "the event spool is full; try again later"):
        super().__init__(message)


class SchemaError(Exception):
    """The ClickHouse schema history on disk does not match what was applied."""
