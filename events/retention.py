"""How long ClickHouse keeps things: raw events, their UA/IP columns, the engine's own logs.

The migrations that create the raw tables write the defaults (400 days, 30 for UA and IP
prefix, SPEC §4.2). The configured periods (``CONSENTRY_EVENT_RETENTION_DAYS``,
``CONSENTRY_UA_IP_RETENTION_DAYS``) are applied by ``consentry db upgrade`` after the
migrations: each TTL the table does not already have is set with ``ALTER TABLE … MODIFY``,
so changing a period and upgrading again is all an operator does, and an unchanged one
costs a look at ``system.tables``. Rollups have no TTL: they hold no row of a person.

A self-hosted ClickHouse grows without bound when its ``system.*_log`` tables have no TTL;
on the embedded engine, whose server config we do not write, each such table gets one
(``CONSENTRY_SYSTEM_LOG_RETENTION_DAYS``). A ClickHouse server sets them in its own config.
"""

import re
from dataclasses import dataclass

from events.clickhouse import ClickHouseStore
from events.cluster import local_name


@dataclass(frozen=True)
class Retention:
    """Retention periods in days."""

    events_days: int = 400
    ua_ip_days: int = 30
    system_log_days: int = 30


@dataclass(frozen=True)
class RawTable:
    """A raw event table: its time column and the columns that hold UA or IP data."""

    name: str
    time_column: str
    ua_ip_columns: tuple[str, ...]


RAW_TABLES = (
    RawTable("consent_events", "ts", ("ua_family", "ip_prefix")),
    RawTable("email_events", "ts", ("user_agent", "ua_family", "ip_prefix")),
    RawTable("page_views", "ts", ("ua_family",)),
)

_TABLE_SQL = (
    "SELECT name, create_table_query FROM system.tables"
    " WHERE database = {db:String} AND name IN {names:Array(String)}"
)
_LOG_SQL = (
    "SELECT t.name, t.create_table_query FROM system.tables AS t"
    " WHERE t.database = {db:String} AND t.name LIKE '%\\\\_log' AND t.engine LIKE '%MergeTree'"
    " AND (SELECT count() FROM system.columns AS c"
    "      WHERE c.database = {db:String} AND c.table = t.name AND c.name = 'event_date') > 0"
)


def ttl_expression(time_column: str, days: int) -> str:
    """A TTL as ClickHouse writes it back in ``create_table_query``."""
    return f"toDateTime({time_column}) + toIntervalDay({days})"


def retention_statements(
    store: ClickHouseStore, retention: Retention, cluster: str | None = None
) -> list[str]:
    """The ALTERs that would bring the raw tables to ``retention`` (none if they have it)."""

    def stored(name: str) -> str:
        return local_name(name) if cluster else name

    names = [stored(t.name) for t in RAW_TABLES]
    created = dict(store.query(_TABLE_SQL, {"db": store.database, "names": names}))
    on = f" ON CLUSTER `{cluster}`" if cluster else ""
    statements = []
    for table in RAW_TABLES:
        query = created.get(stored(table.name))
        if query is None:
            continue  # not created yet: its migration writes the defaults
        rows = ttl_expression(table.time_column, retention.events_days)
        # The table's own TTL follows its ENGINE clause; columns' TTLs come before it.
        if not re.search(rf" TTL {re.escape(rows)}( |$)", query.split(" ENGINE = ", 1)[-1]):
            statements.append(f"ALTER TABLE {stored(table.name)}{on} MODIFY TTL {rows}")
        ua_ip = ttl_expression(table.time_column, retention.ua_ip_days)
        for column in table.ua_ip_columns:
            if not re.search(rf"`{column}` [^`]*? TTL {re.escape(ua_ip)}[,)]", query):
                statements.append(
                    f"ALTER TABLE {stored(table.name)}{on} MODIFY COLUMN {column} TTL {ua_ip}"
                )
    return statements


def apply_retention(
    store: ClickHouseStore, retention: Retention, cluster: str | None = None
) -> list[str]:
    """Set the configured TTLs on the raw tables (and the engine's logs); return the ALTERs."""
    statements = retention_statements(store, retention, cluster)
    if store.embedded:
        statements += system_log_statements(store, retention.system_log_days)
    for statement in statements:
        store.command(statement)
    return statements


def system_log_statements(store: ClickHouseStore, days: int, database: str = "system") -> list[str]:
    """A TTL on each ``*_log`` MergeTree table of ``database`` that lacks this one."""
    wanted = f"TTL event_date + toIntervalDay({days})"
    return [
        f"ALTER TABLE `{database}`.`{name}` MODIFY {wanted}"
        for name, query in store.query(_LOG_SQL, {"db": database})
        if wanted not in query
    ]
