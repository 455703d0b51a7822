"""Consent records whose events an erasure removed while the record was kept.

Revision ID: 0008_consent_events_erased
Revises: 0007_consent_record_redaction
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_consent_events_erased"
down_revision = "0007_consent_record_redaction"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: no existing record had its events erased; no table rewrite.
    op.add_column(
        "consent_records",
        sa.Column("events_erased_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade():
    with op.batch_alter_table("consent_records") as batch:
        batch.drop_column("events_erased_at")
