"""Cluster mode: the same migration files, rewritten for Replicated tables ON CLUSTER.

No Keeper runs here, so the rewritten statements cannot be executed; every one of them is
parsed by the embedded engine (``formatQuery``), as is every statement of the one-server
shape, and their shape is checked: local replicated parts, Distributed tables with the
original names, views reading and writing local parts, back-fills through Distributed.
"""

import re

import pytest
from events_support import SCHEMA_DIR

from analytics.corrections import ROLLUPS, RollupRefresher
from events.clickhouse import ClickHouseStore
from events.cluster import for_cluster
from events.errors import SchemaError
from events.retention import RAW_TABLES
from events.schema import HISTORY_DDL, all_tables, load_migrations

MIGRATIONS = load_migrations(SCHEMA_DIR)
TABLES = all_tables(MIGRATIONS)
CLUSTER = "events_cluster"


@pytest.fixture(scope="module")
def parser(chdb_root):
    store = ClickHouseStore(f"chdb://{chdb_root}")
    yield lambda sql: store.query("SELECT formatQuery({sql:String})", {"sql": sql})[0][0]
    store.close()


def _planned(cluster: str | None) -> list[str]:
    history = [HISTORY_DDL.strip()]
    statements = for_cluster(history[0], cluster, TABLES) if cluster else history
    for migration in MIGRATIONS:
        statements += migration.plan(cluster, TABLES)
    return statements


@pytest.mark.parametrize("cluster", [None, CLUSTER])
def test_every_generated_statement_parses(parser, cluster):
    statements = _planned(cluster)
    assert len(statements) > len(MIGRATIONS)
    for statement in statements:
        assert parser(statement)  # raises on a syntax error


def test_each_table_becomes_a_replicated_local_part_and_a_distributed_table(parser):
    formatted = [parser(s) for s in _planned(CLUSTER)]
    for table in TABLES:
        local = [s for s in formatted if s.startswith(f"CREATE TABLE IF NOT EXISTS {table}_local ")]
        assert len(local) == 1, table
        assert f"ON CLUSTER {CLUSTER}" in local[0]
        assert re.search(
            r"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/\{shard\}", local[0]
        )
        distributed = [s for s in formatted if s.startswith(f"CREATE TABLE IF NOT EXISTS {table} ")]
        assert len(distributed) == 1, table
        assert f"AS {table}_local" in distributed[0]
        assert (
            f"ENGINE = Distributed({CLUSTER}, currentDatabase(), {table}_local, cityHash64("
            in (distributed[0])
        )


def test_views_read_and_write_local_parts_and_back_fills_go_through_distributed(parser):
    formatted = [parser(s) for s in _planned(CLUSTER)]
    views = [s for s in formatted if s.startswith("CREATE MATERIALIZED VIEW")]
    assert views
    # Each view is followed by its back-fill through the Distributed tables (a view made
    # again by a later migration, e.g. email_daily_mv in 0008, by one more).
    for view in views:
        assert f"ON CLUSTER {CLUSTER} TO " in view
        target = re.search(r" TO (\w+)_local\b", view)[1]
        source = re.search(r"\bFROM (\w+)_local\b", view)[1]
        back_fills = [s for s in formatted if s.startswith(f"INSERT INTO {target} SELECT")]
        assert len(back_fills) == sum(f" TO {target}_local\n" in v for v in views)
        assert all(re.search(rf"\bFROM {source}\b", b) for b in back_fills)


def test_column_changes_follow_on_the_distributed_table_and_views_are_dropped_on_cluster(parser):
    added = "ALTER TABLE email_daily ADD COLUMN IF NOT EXISTS n SimpleAggregateFunction(max, UInt8)"
    local, distributed = (parser(s) for s in for_cluster(added, CLUSTER, TABLES))
    assert local.startswith(f"ALTER TABLE email_daily_local ON CLUSTER {CLUSTER}\n")
    assert distributed.startswith(f"ALTER TABLE email_daily ON CLUSTER {CLUSTER}\n")
    assert "ADD COLUMN IF NOT EXISTS `n`" in local
    assert "ADD COLUMN IF NOT EXISTS `n`" in distributed
    (dropped,) = for_cluster("DROP VIEW IF EXISTS email_daily_mv", CLUSTER, TABLES)
    assert parser(dropped) == f"DROP VIEW IF EXISTS email_daily_mv ON CLUSTER {CLUSTER}"


def test_retention_alters_parse_and_name_local_parts(parser):
    for table in RAW_TABLES:
        statement = f"ALTER TABLE {table.name} MODIFY TTL toDateTime(ts) + toIntervalDay(9)"
        (rewritten,) = for_cluster(statement, CLUSTER, TABLES)
        assert parser(rewritten).startswith(f"ALTER TABLE {table.name}_local ON CLUSTER {CLUSTER}")


@pytest.mark.parametrize("cluster", [None, CLUSTER])
def test_the_rollup_refresh_parses_in_both_shapes(parser, cluster):
    # The refresh that applies corrections (analytics.corrections): its deletes act on
    # every shard's local part, its recounts go through the Distributed tables.
    statements = RollupRefresher(None, SCHEMA_DIR, cluster=cluster).statements
    assert len(statements) == 1 + 2 * len(ROLLUPS)
    formatted = {name: parser(sql) for name, sql in statements.items()}
    for rollup in ROLLUPS:
        delete, insert = formatted[f"delete {rollup}"], formatted[f"insert {rollup}"]
        target = [f"{rollup}_local", "ON", "CLUSTER", CLUSTER] if cluster else [rollup]
        assert delete.split(" WHERE ")[0].split() == ["DELETE", "FROM", *target]
        assert insert.startswith(f"INSERT INTO {rollup}\nSETTINGS distributed_foreground_insert")
        # Both raw tables are Distributed on a cluster: the corrections are joined GLOBAL.
        assert "GLOBAL LEFT JOIN" in insert
        assert "_local" not in insert + formatted["keys"]


def test_an_unknown_statement_shape_is_refused():
    with pytest.raises(SchemaError, match="cannot rewrite"):
        for_cluster("DROP TABLE consent_events", CLUSTER, TABLES)
