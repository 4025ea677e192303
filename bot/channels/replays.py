"""Each provider message is handled once, however often it is delivered.

Twilio, Meta and Telegram resend a webhook when our answer is slow or lost,
with the same message id (Twilio's ``MessageSid``, Messenger's ``mid``,
Telegram's ``update_id``). The id is written to the shared database before
the message is handled; a second delivery finds it there, gets its 200 and
starts no second turn, on whichever instance it lands. Ids are kept for a
week, far longer than any provider retries.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot import migrations

logger = logging.getLogger(__name__)
KEEP = timedelta(days=7)
# One insert in this many also clears ids older than KEEP.
SWEEP_EVERY = 200

metadata = MetaData()
inbound = Table(
    "inbound_messages",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("message_id", String(128), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)


class ReplayGuard:
    """Remembers provider message ids in the bookings database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = migrations.OnFirstUse(url)

    @property
    def engine(self) -> Engine:
        """Made once: the first deliveries arrive together, on threads."""
        return self._engine()

    def first_time(self, provider: str, message_id: str) -> bool:
        """True the first time this id is seen (and it is now remembered)."""
        now = datetime.now(timezone.utc)
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(inbound).values(
                        provider=provider, message_id=message_id[:128], received_at=now
                    )
                )
                if random.randrange(SWEEP_EVERY) == 0:
                    connection.execute(
                        delete(inbound).where(inbound.c.received_at < now - KEEP)
                    )
        except IntegrityError:
            return False
        return True


_guard: ReplayGuard | None = None


def configure(database_url: str) -> None:
    """The database the ids are kept in, set once by the entry point
    (bot/rasa/install.py)."""
    global _guard
    _guard = ReplayGuard(database_url)


def guard() -> ReplayGuard:
    if _guard is None:
        raise RuntimeError("the replay guard is not configured (bot.rasa.install)")
    return _guard


async def first_delivery(provider: str, message_id: object) -> bool:
    """Whether to handle this delivery. Without an id, or when the database
    cannot be reached, it is handled: a rare duplicate beats a lost message."""
    usable = isinstance(message_id, str | int) and not isinstance(message_id, bool)
    if not usable or message_id == "":
        return True
    try:
        return await asyncio.to_thread(guard().first_time, provider, str(message_id))
    except (SQLAlchemyError, RuntimeError):
        logger.exception(
            "could not check %s message %s for a replay", provider, message_id
        )
        return True
