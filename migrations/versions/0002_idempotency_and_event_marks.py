"""Idempotency keys of decisions; each site's reconciled mark of consent events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # A retried decision with the same Idempotency-Key answers the first record again.
    op.create_table(
        "idempotency_keys",
        sa.Column("site_id", sa.String(63), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    # How far each site's records are known to have their event in ClickHouse (or the spool).
    op.create_table(
        "event_marks",
        sa.Column("site_id", sa.String(63), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("reconciled_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_event_marks"),
    )


def downgrade():
    op.drop_table("event_marks")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
