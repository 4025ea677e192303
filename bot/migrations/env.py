"""Alembic's environment: migrations run on the connection bot.migrations
hands over (never a URL from a file: the settings are the one source)."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `python -m bot migrate`")
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
