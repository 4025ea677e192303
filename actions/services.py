"""What the actions use (settings, the clinic's facts, the stores), made
once per process on first use and then reused; tests replace these."""

from __future__ import annotations

from functools import lru_cache

from bot.booking.spool import Spool
from bot.booking.store import BookingStore
from bot.clinic.facts import Clinic, load_clinic
from bot.handoff.queue import HandoffQueue
from bot.notify.outbox import Sender, default_senders
from bot.settings import load_settings


@lru_cache(maxsize=1)
def booking_store() -> BookingStore:
    return BookingStore.from_settings(load_settings())


@lru_cache(maxsize=1)
def handoff_queue() -> HandoffQueue:
    settings = load_settings()
    return HandoffQueue(
        settings.database_url,
        settings.handoff_per_conversation,
        settings.handoff_per_address,
    )


@lru_cache(maxsize=1)
def booking_spool() -> Spool:
    return Spool(load_settings().booking_spool)


@lru_cache(maxsize=1)
def clinic() -> Clinic:
    """The clinic's facts, from the file the settings name."""
    return load_clinic(load_settings().clinic_settings)


@lru_cache(maxsize=1)
def notification_senders() -> dict[str, Sender]:
    return default_senders(load_settings(), clinic())
