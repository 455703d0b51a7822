"""The email side: recipients, messages, suppressions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=True),
        sa.Column("pseudonym", sa.String(32), nullable=False),
        sa.Column("tracking_consent", sa.String(8), nullable=False),
        sa.Column("tracking_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tracking_method", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recipients"),
        sa.UniqueConstraint("site", "external_id", name="uq_recipients_site_external_id"),
    )
    op.create_index("ix_recipients_email_hash", "recipients", ["email_hash"])
    op.create_table(
        "messages",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("campaign", sa.String(200), nullable=False),
        sa.Column("list", sa.String(64), nullable=False),
        sa.Column("tracking", sa.String(16), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipients.id"], name="fk_messages_recipient_id_recipients"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
    )
    op.create_index("ix_messages_recipient_id", "messages", ["recipient_id"])
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("list", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(255), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_suppressions"),
    )
    op.create_index("ix_suppressions_site_recipient", "suppressions", ["site", "recipient"])
    op.create_index("ix_suppressions_email_hash", "suppressions", ["email_hash"])


def downgrade():
    op.drop_index("ix_suppressions_email_hash", table_name="suppressions")
    op.drop_index("ix_suppressions_site_recipient", table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_index("ix_messages_recipient_id", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_recipients_email_hash", table_name="recipients")
    op.drop_table("recipients")
