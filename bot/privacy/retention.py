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

from sqlalchemy import text

from bot.conversations import Conversations
from bot.settings import Settings

logger = logging.getLogger(__name__)
DAILY_SECONDS = 24 * 3600


def _conversations(settings: Settings, now: datetime) -> int:
    conversations = Conversations.from_settings(settings)
    try:
        cutoff = now - timedelta(days=settings.retention_conversation_days)
        return conversations.delete(conversations.idle_since(cutoff))["conversations"]
    finally:
        conversations.dispose()


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
