"""A booking request or a message to staff from a conversation whose patient
asked to be forgotten, kept only until the clinic has received it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("booking_requests", "notifications"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    "forget", sa.Boolean(), nullable=False, server_default=sa.false()
                )
            )


def downgrade() -> None:
    for table in ("booking_requests", "notifications"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("forget")
