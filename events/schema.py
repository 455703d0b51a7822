"""The ClickHouse schema history: numbered .sql files applied once, in order, and recorded.

The runner adds two things to what a file says. A materialized view only sees rows
inserted after it exists, so each ``CREATE MATERIALIZED VIEW … TO target AS SELECT …`` is
followed by ``INSERT INTO target SELECT …`` (the same SELECT): the rows already stored are
rolled up too. Rollups count uniqExact states, so rows the view and the back-fill both see
are still counted once. With a cluster name, every statement is rewritten by
:mod:`events.cluster` (replicated local tables ``ON CLUSTER``, Distributed tables over them).
"""

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from events.clickhouse import ClickHouseStore
from events.cluster import for_cluster
from events.errors import SchemaError

log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql\Z")
# Statements end with ";" at the end of a line, so a ";" inside a line or string is safe.
_STATEMENT_END_RE = re.compile(r";[ \t]*$", re.MULTILINE)
_CREATE_TABLE_RE = re.compile(r"\ACREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)
_VIEW_RE = re.compile(
    r"\ACREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+\s+TO\s+(\w+)\s+AS\s+",
    re.IGNORECASE,
)

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = MergeTree ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    """One numbered .sql file of the ClickHouse schema history."""

    version: int
    name: str
    sql: str
    checksum: str

    @property
    def statements(self) -> list[str]:
        """Split the file into statements, without the comment lines that lead them."""
        statements = []
        for piece in _STATEMENT_END_RE.split(self.sql):
            lines = piece.strip().splitlines()
            while lines and not _is_code(lines[0]):
                lines.pop(0)
            if lines:
                statements.append("\n".join(lines))
        return statements

    @property
    def tables(self) -> set[str]:
        """The tables this migration creates."""
        return {m[1] for m in map(_CREATE_TABLE_RE.match, self.statements) if m}

    def plan(self, cluster: str | None = None, tables: frozenset[str] = frozenset()) -> list[str]:
        """The statements to run: the file's, each view followed by its back-fill.

        With ``cluster``, rewritten for it; ``tables`` names every table the history
        creates (views read the local parts of those).
        """
        planned = []
        for statement in self.statements:
            planned += for_cluster(statement, cluster, tables) if cluster else [statement]
            if view := _VIEW_RE.match(statement):
                planned.append(f"INSERT INTO {view[1]}\n{statement[view.end() :]}")
        return planned


def _is_code(line: str) -> bool:
    line = line.strip()
    return bool(line) and not line.startswith("--")


def load_migrations(schema_dir: Path) -> list[Migration]:
    """Read the numbered migration files of a directory, in version order."""
    migrations = []
    for path in sorted(Path(schema_dir).glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise SchemaError(f"{path.name}: ClickHouse migrations are named NNNN_name.sql")
        raw = path.read_bytes()
        migrations.append(
            Migration(int(match[1]), path.stem, raw.decode(), hashlib.sha256(raw).hexdigest())
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise SchemaError(f"{schema_dir}: two ClickHouse migrations share a version number")
    return migrations


def all_tables(migrations: list[Migration]) -> frozenset[str]:
    """Every table a schema history creates, its own history table included."""
    return frozenset({"schema_migrations"}.union(*(m.tables for m in migrations)))


def view_select(migrations: list[Migration], target: str) -> str:
    """The SELECT of the materialized view that feeds ``target`` (the history's last one).

    A rollup's one definition: its view feeds it row by row, and whoever recounts part of
    it (analytics.corrections) runs the same SELECT over another source.
    """
    selects = [
        statement[view.end() :]
        for migration in migrations
        for statement in migration.statements
        if (view := _VIEW_RE.match(statement)) and view[1] == target
    ]
    if not selects:
        raise SchemaError(f"no materialized view feeds {target}")
    return selects[-1]


def reading(select: str, table: str, source: str) -> str:
    """``select`` with its one ``FROM table`` reading the subquery ``source`` instead, under
    the table's name (so the SELECT's columns and conditions apply to it unchanged)."""
    from_table = re.compile(rf"\bFROM\s+{re.escape(table)}\b")
    if len(from_table.findall(select)) != 1:
        raise SchemaError(f"expected one FROM {table} in: {select[:80]!r}")
    return from_table.sub(lambda _: f"FROM ({source}) AS {table}", select)


def upgrade(store: ClickHouseStore, schema_dir: Path, cluster: str | None = None) -> list[str]:
    """Apply the migrations not applied yet (for ``cluster`` if named); return their names."""
    migrations = load_migrations(schema_dir)
    tables = all_tables(migrations)
    store.create_database(cluster)
    history = [HISTORY_DDL.strip()]
    for statement in for_cluster(history[0], cluster, tables) if cluster else history:
        store.command(statement)
    applied = {
        version: (name, checksum)
        for version, name, checksum in store.query(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        )
    }
    for migration in migrations:
        if migration.version in applied:
            name, checksum = applied[migration.version]
            if checksum != migration.checksum:
                raise SchemaError(
                    f"ClickHouse migration {migration.name}.sql changed after it was applied "
                    f"as {name}.sql (checksum {checksum[:12]}, now {migration.checksum[:12]}); "
                    "add a new migration instead of editing an applied one"
                )
    done = []
    for migration in migrations:
        if migration.version in applied:
            continue
        for statement in migration.plan(cluster, tables):
            store.command(statement)
        store.command(
            "INSERT INTO schema_migrations SELECT {v:UInt32}, {n:String}, {c:String}, now64(3)",
            parameters={"v": migration.version, "n": migration.name, "c": migration.checksum},
        )
        log.info("applied ClickHouse migration %s", migration.name)
        done.append(migration.name)
    return done
