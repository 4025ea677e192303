"""The bookings database's schema, by Alembic migrations (versions/).

``upgrade(engine)`` brings any database to the newest schema: an empty one
from nothing, one made before migrations existed (by ``create_all``, no
``alembic_version`` table) by recognising it as the first revision, an
older one step by step. It runs on the first use of the database in every
process and at the start of ``make run`` / ``make run-cluster``; on
PostgreSQL an advisory lock makes processes starting together take turns.
``python -m bot migrate`` runs it by hand.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, DateTime, MetaData, String, Table, inspect
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from bot.db import make_engine

HERE = Path(__file__).parent
# The revision whose tables ``create_all`` used to make.
FIRST = "0001"
# Any number: the key of the PostgreSQL advisory lock held while migrating.
SCHEMA_LOCK = 5_055_001
# Alembic's migration context is global to the process: one thread at a time.
_in_process = threading.Lock()


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head()


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> None:
    cfg = config(connection)
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables and "booking_requests" in tables:
        # Made by create_all before migrations: the first revision's tables,
        # the provider message ids possibly missing (made on first use).
        _legacy_replay_table().create_all(connection)
        command.stamp(cfg, FIRST)
    command.upgrade(cfg, "head")


def _legacy_replay_table() -> MetaData:
    """The provider message ids' table as the first revision has it."""
    metadata = MetaData()
    Table(
        "inbound_messages",
        metadata,
        Column("provider", String(16), primary_key=True),
        Column("message_id", String(128), primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    )
    return metadata


def connect(url: str) -> Engine:
    """An engine on ``url`` whose database is at the newest schema; nothing
    is kept when the upgrade fails, so the next caller tries again. Two
    action servers starting on an empty database take turns here; without
    that the loser's CREATE failed as a duplicate and its bookings all went
    to the spool."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    except Exception:
        engine.dispose()
        raise
    return engine


class OnFirstUse:
    """A store's engine on ``url`` at the newest schema, made when first
    asked for, never at import or construction, and once only, also when
    the first calls arrive together on threads (creating tables twice
    raced); a failed connect is tried again by the next caller."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.made: Engine | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Engine:
        with self._lock:
            if self.made is None:
                self.made = connect(self.url)
        return self.made


def upgrade(engine: Engine) -> str:
    """Bring the database to the newest schema; the revision it is at."""
    with _in_process:
        return _upgrade_locked(engine)


def _upgrade_locked(engine: Engine) -> str:
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(
                sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK}
            )
            _upgrade(connection)
            return current(connection)
    for attempt in range(5):
        try:
            with engine.begin() as connection:
                _upgrade(connection)
                return current(connection)
        except OperationalError:
            # SQLite: another process migrating at the same moment.
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
