"""Messages for staff (a handoff's transcript) in the notifications outbox,
beside booking notifications: no booking, a subject, a body, and a key that
keeps a retried handoff from queueing its email twice.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("booking_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("subject", sa.String(200)))
        batch.add_column(sa.Column("body", sa.Text()))
        batch.add_column(sa.Column("dedupe_key", sa.String(128)))
        batch.create_unique_constraint("uq_notifications_dedupe_key", ["dedupe_key"])


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE booking_id IS NULL")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("uq_notifications_dedupe_key", type_="unique")
        batch.drop_column("dedupe_key")
        batch.drop_column("body")
        batch.drop_column("subject")
        batch.alter_column("booking_id", existing_type=sa.Integer(), nullable=False)
