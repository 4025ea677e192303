"""Telling the clinic in the background: the patient gets the reference at
once, and a slow mail server cannot push an action past Rasa's deadline."""

from __future__ import annotations

import asyncio
import logging

from actions import services
from bot.notify.outbox import deliver_due

logger = logging.getLogger(__name__)

_deliveries: set[asyncio.Task] = set()


def notify_clinic_soon() -> asyncio.Task:
    """Deliver in the background: the user gets the reference at once, and a
    slow mail server cannot push the action past Rasa's deadline. What fails
    stays queued for the retry loop."""
    task = asyncio.get_running_loop().create_task(notify_clinic())
    _deliveries.add(task)
    task.add_done_callback(_deliveries.discard)
    return task


async def pending_deliveries() -> None:
    """Wait for the background deliveries started so far (used by tests)."""
    await asyncio.gather(*list(_deliveries), return_exceptions=True)


async def notify_clinic() -> None:
    """Send whatever is due; failures stay queued and are retried later."""
    try:
        await asyncio.to_thread(
            deliver_due, services.booking_store(), services.notification_senders()
        )
    except Exception:  # noqa: BLE001 - the booking is stored; retry later
        logger.exception("delivering booking notifications failed")
