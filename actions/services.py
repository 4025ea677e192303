"""What the actions use (the clinic's facts, the stores, the senders), made
from the settings the action server's entry point read once
(rasa_sdk_plugins: ``configure``), each on first use and then reused;
tests replace these."""

from __future__ import annotations

from functools import lru_cache

from bot.booking.spool import Spool
from bot.booking.store import BookingStore
from bot.clinic.facts import Clinic, load_clinic
from bot.handoff.queue import HandoffQueue
from bot.notify.outbox import Sender, default_senders
from bot.settings import Settings

_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """The settings every service is made from; what was made from earlier
    ones is made again."""
    global _settings
    _settings = settings
    for made in _MADE:
        made.cache_clear()


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("the action server's services are not configured")
    return _settings


@lru_cache(maxsize=1)
def booking_store() -> BookingStore:
    return BookingStore.from_settings(settings())


@lru_cache(maxsize=1)
def handoff_queue() -> HandoffQueue:
    return HandoffQueue(
        settings().database_url,
        settings().handoff_per_conversation,
        settings().handoff_per_address,
    )


@lru_cache(maxsize=1)
def booking_spool() -> Spool:
    return Spool(settings().booking_spool)


@lru_cache(maxsize=1)
def clinic() -> Clinic:
    """The clinic's facts, from the file the settings name."""
    return load_clinic(settings().clinic_settings)


@lru_cache(maxsize=1)
def notification_senders() -> dict[str, Sender]:
    return default_senders(settings(), clinic())


# The functions as defined here (a test may replace the module's names).
_MADE = (booking_store, handoff_queue, booking_spool, clinic, notification_senders)
