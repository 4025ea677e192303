"""Handoffs: ids never reused, room for any conversation id, and the
client each request came from.

A chat's URL and the audit entries that name it must not point at another
patient after a deletion. PostgreSQL's sequence never reuses a value;
SQLite's plain integer key reuses the highest id after it is deleted, unless
the table is AUTOINCREMENT. A handoff's conversation id holds as much as the
tracker store's (255 characters). ``client`` is the keyed tag of the client
address (bot/channels/floods.py), for the limit on handoff requests.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _batch(upgrading: bool):
    sqlite = op.get_bind().dialect.name == "sqlite"
    return op.batch_alter_table(
        "handoffs",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": upgrading} if sqlite else {},
    )


def upgrade() -> None:
    with _batch(upgrading=True) as batch:
        batch.alter_column(
            "conversation_id",
            existing_type=sa.String(200),
            type_=sa.String(255),
            existing_nullable=False,
        )
        batch.add_column(sa.Column("client", sa.String(16)))
    op.create_index("ix_handoffs_client", "handoffs", ["client"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_client", "handoffs")
    with _batch(upgrading=False) as batch:
        batch.drop_column("client")
        batch.alter_column(
            "conversation_id",
            existing_type=sa.String(255),
            type_=sa.String(200),
            existing_nullable=False,
        )
