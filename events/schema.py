"""The ClickHouse schema history: numbered .sql files applied once, in order, and recorded."""

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from events.clickhouse import ClickHouseStore
from events.errors import SchemaError

log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql\Z")
# Statements end with ";" at the end of a line, so a ";" inside a line or string is safe.
_STATEMENT_END_RE = re.compile(r";[ \t]*$", re.MULTILINE)

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
        """Split the file into statements, leaving out comment-only pieces."""
        pieces = (p.strip() for p in _STATEMENT_END_RE.split(self.sql))
        return [p for p in pieces if any(_is_code(line) for line in p.splitlines())]


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


def upgrade(store: ClickHouseStore, schema_dir: Path) -> list[str]:
    """Apply the migrations not applied yet; return their names."""
    migrations = load_migrations(schema_dir)
    store.create_database()
    store.command(HISTORY_DDL)
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
        for statement in migration.statements:
            store.command(statement)
        store.command(
            "INSERT INTO schema_migrations SELECT {v:UInt32}, {n:String}, {c:String}, now64(3)",
            parameters={"v": migration.version, "n": migration.name, "c": migration.checksum},
        )
        log.info("applied ClickHouse migration %s", migration.name)
        done.append(migration.name)
    return done
