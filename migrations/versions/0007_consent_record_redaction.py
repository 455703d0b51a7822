"""Consent records can be redacted: a stored content digest and when it was erased.

Revision ID: 0007_consent_record_redaction
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_consent_record_redaction"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    # Both nullable: existing records are not redacted, and adding a nullable column
    # rewrites no table (SQLite and PostgreSQL alike).
    op.add_column("consent_records", sa.Column("content_digest", sa.String(64), nullable=True))
    op.add_column(
        "consent_records", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade():
    with op.batch_alter_table("consent_records") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("content_digest")
