"""One schema history, two shapes: the statements of a migration rewritten for a cluster.

On one server (or the embedded engine) a migration runs as written. With
``CONSENTRY_CLICKHOUSE_CLUSTER=<name>`` every table becomes ``<table>_local``, a
``Replicated*MergeTree`` created ``ON CLUSTER`` on every shard, plus a ``Distributed`` table
with the original name over them, so inserts (the shipper) and reports use the same names
in both shapes. Materialized views read and write the local tables of their shard: each
shard rolls up the rows it holds, and a report merges the states of every shard (uniqExact
states merge exactly, so where a row landed never changes a number).

The sharding key hashes a row's sort key: deterministic, so a replayed batch reaches the
shards its first delivery reached, where the deduplication token makes it a no-op.

Only the statement shapes our migrations (and the rollup refresh, analytics.corrections)
use are known; any other statement is refused with a SchemaError instead of being run
unchanged on one node.
"""

import re

from events.errors import SchemaError

LOCAL_SUFFIX = "_local"

_CREATE_TABLE = re.compile(
    r"\ACREATE\s+TABLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)\s*\(", re.IGNORECASE
)
_ENGINE = re.compile(r"\bENGINE\s*=\s*(?P<engine>\w*MergeTree)\b(?:\((?P<args>[^)]*)\))?")
_ORDER_BY = re.compile(r"\bORDER\s+BY\s+(?P<key>\([^\n]*\)|\w+)", re.IGNORECASE)
_CREATE_VIEW = re.compile(
    r"\ACREATE\s+MATERIALIZED\s+VIEW\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)\s+"
    r"TO\s+(?P<target>\w+)\s+AS\b",
    re.IGNORECASE,
)
_ALTER_TABLE = re.compile(r"\AALTER\s+TABLE\s+(?P<name>\w+)\b", re.IGNORECASE)
_COLUMN_CHANGE = re.compile(r"\A\s*(?:ADD|DROP|MODIFY|RENAME)\s+COLUMN\b", re.IGNORECASE)
_DROP_VIEW = re.compile(r"\ADROP\s+VIEW\s+(?P<ie>IF\s+EXISTS\s+)?(?P<name>\w+)\s*\Z", re.I)
_DELETE = re.compile(r"\ADELETE\s+FROM\s+(?P<name>\w+)\b", re.IGNORECASE)
_INSERT = re.compile(r"\AINSERT\s+INTO\b", re.IGNORECASE)
_SOURCE = re.compile(r"\b(?P<keyword>FROM|JOIN)\s+(?P<name>\w+)\b", re.IGNORECASE)
# ClickHouse's own macros: each replica fills in its shard and name.
REPLICA_PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"


def local_name(table: str) -> str:
    """The name of a table's per-shard part."""
    return table + LOCAL_SUFFIX


def for_cluster(statement: str, cluster: str, tables: frozenset[str]) -> list[str]:
    """Rewrite one migration statement for ``cluster``: one or more statements.

    ``tables`` names the tables the migrations create: a view's ``FROM``/``JOIN`` of one
    of them reads its local part (any other name, e.g. a function's, is left alone).
    """
    on = f"ON CLUSTER `{cluster}`"
    if match := _CREATE_TABLE.match(statement):
        return _table(statement, match, cluster, on)
    if match := _CREATE_VIEW.match(statement):
        head = (
            f"CREATE MATERIALIZED VIEW {match['ine'] or ''}{match['name']} {on} "
            f"TO {local_name(match['target'])} AS"
        )
        body = _SOURCE.sub(
            lambda m: f"{m['keyword']} {local_name(m['name'])}" if m["name"] in tables else m[0],
            statement[match.end() :],
        )
        return [head + body]
    if match := _ALTER_TABLE.match(statement):
        rest = statement[match.end() :]
        altered = [f"ALTER TABLE {local_name(match['name'])} {on}{rest}"]
        if _COLUMN_CHANGE.match(rest):
            # A Distributed table keeps its own list of columns: it follows the local one.
            altered.append(f"ALTER TABLE {match['name']} {on}{rest}")
        return altered
    if match := _DROP_VIEW.match(statement):
        return [f"DROP VIEW {match['ie'] or ''}{match['name']} {on}"]
    if match := _DELETE.match(statement):
        # Lightweight deletes act on the parts that hold the rows: every shard's local part.
        # The statement is ours (analytics.corrections); its values are bound parameters.
        rest = statement[match.end() :]
        return [f"DELETE FROM {local_name(match['name'])} {on}{rest}"]  # noqa: S608
    if _INSERT.match(statement):
        # Through the Distributed tables: read from every shard, written by sharding key.
        return [statement]
    raise SchemaError(
        "cannot rewrite this statement for a cluster (known: CREATE TABLE, CREATE "
        f"MATERIALIZED VIEW … TO, ALTER TABLE, DROP VIEW, DELETE, INSERT): {statement[:80]!r}"
    )


def _table(statement: str, match: re.Match[str], cluster: str, on: str) -> list[str]:
    name = match["name"]
    engine = _ENGINE.search(statement)
    order = _ORDER_BY.search(statement)
    if engine is None or order is None:
        raise SchemaError(f"{name}: a clustered table needs a *MergeTree engine and ORDER BY")
    args = REPLICA_PATH + (f", {engine['args']}" if engine["args"] else "")
    local = (
        f"CREATE TABLE {match['ine'] or ''}{local_name(name)} {on} ("
        + statement[match.end() : engine.start()]
        + f"ENGINE = Replicated{engine['engine']}({args})"
        + statement[engine.end() :]
    )
    key = order["key"].strip()
    key = key[1:-1] if key.startswith("(") and key.endswith(")") else key
    distributed = (
        f"CREATE TABLE {match['ine'] or ''}{name} {on} AS {local_name(name)} "
        f"ENGINE = Distributed(`{cluster}`, currentDatabase(), {local_name(name)}, "
        f"cityHash64({key}))"
    )
    return [local, distributed]
