"""The ClickHouse side: a local spool, a background shipper, the schema and queries."""

from events.errors import SchemaError, SpoolFull
from events.pipeline import EventPipeline, Pipeline

__all__ = ["EventPipeline", "Pipeline", "SchemaError", "SpoolFull"]
