"""Sites, append-only consent records with their hash chain, hashed API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sites",
        sa.Column("id", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("chain_seq", sa.Integer(), nullable=False),
        sa.Column("chain_head", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("record_id", sa.String(32), nullable=False, unique=True),
        sa.Column("consent_id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(63), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("lifetime", sa.String(16), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("texts_hash", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("region_rule", sa.String(64), nullable=False),
        sa.Column("region_model", sa.String(16), nullable=False),
        sa.Column("dnt", sa.Boolean(), nullable=False),
        sa.Column("gpc", sa.Boolean(), nullable=False),
        sa.Column("ip_prefix", sa.String(64), nullable=True),
        sa.Column("ua_family", sa.String(64), nullable=True),
        sa.Column("page_origin", sa.String(320), nullable=True),
        sa.Column("page_path", sa.String(512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("site_id", "seq", name="uq_consent_records_site_seq"),
    )
    op.create_index("ix_consent_records_consent_id", "consent_records", ["consent_id", "seq"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("lookup", sa.String(16), nullable=False, unique=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade():
    op.drop_table("api_keys")
    op.drop_index("ix_consent_records_consent_id", table_name="consent_records")
    op.drop_table("consent_records")
    op.drop_table("sites")
