"""Constraint names from the models' naming convention (PostgreSQL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Databases made before the models had a naming convention carry PostgreSQL's own names
for the constraints 0001 and 0002 left unnamed (``sites_pkey``, ``api_keys_lookup_key``,
``consent_records_site_id_fkey``…); databases made since carry the convention's (Alembic
names them from the app's metadata). This renames the first kind to the second, so every
database has the names the models give, and an autogenerate compare finds nothing.

SQLite needs no rename: it has no ALTER for constraints, so nothing addresses one by its
name there. Alembic changes a SQLite constraint by rebuilding its table (batch mode), and
the rebuilt table gets the convention's names; renaming now would copy every proof record
into a new table for nothing. An older SQLite file keeps its unnamed constraints, which
enforce the same rules; only an autogenerate compare against such a file still lists the
two unnamed unique ones (``api_keys.lookup``, ``consent_records.record_id``) as to add:
generate migrations against a fresh database (tests/test_migrations.py holds both cases).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, PostgreSQL's default name, the naming convention's name)
RENAMES = [
    ("sites", "sites_pkey", "pk_sites"),
    ("consent_records", "consent_records_pkey", "pk_consent_records"),
    ("consent_records", "consent_records_record_id_key", "uq_consent_records_record_id"),
    ("consent_records", "consent_records_site_id_fkey", "fk_consent_records_site_id_sites"),
    ("api_keys", "api_keys_pkey", "pk_api_keys"),
    ("api_keys", "api_keys_lookup_key", "uq_api_keys_lookup"),
    ("idempotency_keys", "idempotency_keys_site_id_fkey", "fk_idempotency_keys_site_id_sites"),
    ("event_marks", "event_marks_site_id_fkey", "fk_event_marks_site_id_sites"),
]

_EXISTS = sa.text(
    "SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(:table) AND conname = :name"
)


def _rename(table: str, old: str, new: str) -> None:
    conn = op.get_bind()
    # Only where the old name is there: a database made since already has the new one.
    if conn.execute(_EXISTS, {"table": table, "name": old}).first() is not None:
        # Renaming a primary key or unique constraint renames its index with it.
        op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{old}" TO "{new}"')


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, old, new in RENAMES:
        _rename(table, old, new)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, old, new in RENAMES:
        _rename(table, new, old)
