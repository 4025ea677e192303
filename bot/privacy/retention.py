"""Retention (Australian Privacy Principle 11.2): what the clinic no longer
needs is deleted. A conversation goes ``RETENTION_CONVERSATION_DAYS`` after
its last message (all of it, never half), a booking or callback request
``RETENTION_BOOKING_DAYS`` after it came in, with its notes and
notifications.

The action servers run it once a day (rasa_sdk_plugins); ``python -m bot
retention`` runs it now. Deleting twice is harmless, so several servers may.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from bot.settings import Settings

logger = logging.getLogger(__name__)
DAILY_SECONDS = 24 * 3600


def tracker_database_url(settings: Settings) -> str:
    """Where Rasa keeps the conversations (as bot/rasa/endpoints.py tells it)."""
    if settings.tracker_database_url:
        return settings.tracker_database_url
    if make_url(settings.database_url).get_backend_name() == "postgresql":
        return settings.database_url
    return f"sqlite:///{settings.tracker_db}"


def _conversations(settings: Settings, now: datetime) -> int:
    cutoff = (now - timedelta(days=settings.retention_conversation_days)).timestamp()
    engine = create_engine(tracker_database_url(settings), future=True)
    try:
        if "events" not in inspect(engine).get_table_names():
            return 0
        with engine.begin() as conn:
            old = [
                sender
                for (sender,) in conn.execute(
                    text(
                        "SELECT sender_id FROM events GROUP BY sender_id "
                        "HAVING max(timestamp) < :cutoff"
                    ),
                    {"cutoff": cutoff},
                )
            ]
            for sender in old:
                conn.execute(
                    text("DELETE FROM events WHERE sender_id = :sender"),
                    {"sender": sender},
                )
        return len(old)
    finally:
        engine.dispose()


def _booking_requests(settings: Settings, now: datetime) -> int:
    from bot.booking.store import BookingStore

    cutoff = now - timedelta(days=settings.retention_booking_days)
    store = BookingStore.from_settings(settings)
    try:
        with store.engine.begin() as conn:
            old = "SELECT id FROM booking_requests WHERE created_at < :cutoff"
            for table in ("booking_notes", "notifications"):
                conn.execute(
                    text(f"DELETE FROM {table} WHERE booking_id IN ({old})"),
                    {"cutoff": cutoff},
                )
            return conn.execute(
                text("DELETE FROM booking_requests WHERE created_at < :cutoff"),
                {"cutoff": cutoff},
            ).rowcount
    finally:
        store.engine.dispose()


def _conversation_traces(settings: Settings, now: datetime) -> int:
    """What conversations leave in the bookings database besides requests:
    their handoffs, and the emails to staff about them (transcripts), once
    sent, kept as long as conversations are."""
    from bot.booking.store import BookingStore
    from bot.handoff.queue import handoffs

    cutoff = now - timedelta(days=settings.retention_conversation_days)
    store = BookingStore.from_settings(settings)
    try:
        with store.engine.begin() as conn:
            gone = conn.execute(
                handoffs.delete().where(handoffs.c.requested_at < cutoff)
            ).rowcount
            gone += conn.execute(
                text(
                    "DELETE FROM notifications WHERE booking_id IS NULL "
                    "AND status = 'sent' AND sent_at < :cutoff"
                ),
                {"cutoff": cutoff},
            ).rowcount
        store.purge_forgotten()
        return gone
    finally:
        store.engine.dispose()


def apply_retention(settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Delete what is past its time; how many conversations and requests."""
    now = now or datetime.now(timezone.utc)
    counts = {
        "conversations": _conversations(settings, now),
        "booking_requests": _booking_requests(settings, now),
        "handoffs_and_staff_emails": _conversation_traces(settings, now),
    }
    if any(counts.values()):
        logger.info(
            "retention: deleted %(conversations)d conversations and "
            "%(booking_requests)d booking requests",
            counts,
        )
    return counts
