"""The schema create_all made before migrations: booking and callback
requests, their notifications, provider message ids.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booking_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(16), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("email", sa.String(254)),
        sa.Column("preferred_text", sa.String(200)),
        sa.Column("preferred_start", sa.DateTime(timezone=True)),
        sa.Column("preferred_end", sa.DateTime(timezone=True)),
        sa.Column("preferred_label", sa.String(100)),
        sa.Column("concern", sa.Text()),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(40)),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "booking_id",
            sa.Integer(),
            sa.ForeignKey("booking_requests.id"),
            nullable=False,
        ),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("booking_id", "target"),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("provider", sa.String(16), primary_key=True),
        sa.Column("message_id", sa.String(128), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_inbound_messages_received_at", "inbound_messages", ["received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_messages_received_at", "inbound_messages")
    op.drop_table("inbound_messages")
    op.drop_table("notifications")
    op.drop_table("booking_requests")
