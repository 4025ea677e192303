"""A booking request rebuilt from the tracker, every slot checked again as
the form checks it (the action server trusts no tracker), and stored:
in the database, or in the local spool while the database is down."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Any

from rasa_sdk import Tracker

from actions import services
from actions.delivery import notify_clinic_soon
from actions.replies import clean_concern
from bot.booking.contact import normalise_email, normalise_phone
from bot.booking.records import BookingRequest
from bot.booking.spool import submit_or_queue
from bot.conversation_ids import channel_of, handle
from bot.nlp.details import NO_EMAIL, clean_name, tidy

logger = logging.getLogger(__name__)


class Unchecked(ValueError):
    """A slot that does not pass the form's own check: the tracker came from
    somewhere other than the form (the action server trusts no tracker)."""


def checked_slot(slot: str, value: Any, check) -> Any:
    cleaned = check(value) if isinstance(value, str) else None
    if cleaned is None:
        raise Unchecked(slot)
    return cleaned


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError) as error:
        raise Unchecked("preferred_time") from error


def _as_typed(text: str) -> str | None:
    return re.sub(r"\s+", " ", tidy(text)).strip()[:200] or None


def booking_request(tracker: Tracker) -> BookingRequest:
    """The request from the slots, every one checked again as the form checks
    it; raises ``Unchecked`` naming the first slot that fails."""
    slot = tracker.get_slot
    if slot("booking_confirmed") is not True:
        raise Unchecked("booking_confirmed")
    email = slot("email")
    start, end = _when(slot("preferred_start")), _when(slot("preferred_end"))
    label = slot("preferred_label")
    if not (start and end and start < end and isinstance(label, str)):
        raise Unchecked("preferred_time")
    return BookingRequest(
        kind="assessment",
        first_name=checked_slot("first_name", slot("first_name"), clean_name),
        phone=checked_slot("phone", slot("phone"), normalise_phone),
        email=None
        if email in (None, NO_EMAIL)
        else checked_slot("email", email, normalise_email),
        preferred_text=checked_slot(
            "preferred_time", slot("preferred_time"), _as_typed
        ),
        preferred_start=start,
        preferred_end=end,
        preferred_label=clean_concern(label[:100]),
        concern=checked_slot("concern", slot("concern"), clean_concern),
        consent=True,
        channel=channel_of(tracker.sender_id),
        conversation_id=tracker.sender_id,
    )


async def store_request(request: BookingRequest, sender_id: str) -> str | None:
    """The reference once the request is safe: stored, or queued on local disk
    while the database is down. None when neither worked."""
    try:
        reference, how, _ = await asyncio.to_thread(
            submit_or_queue,
            services.booking_store(),
            services.booking_spool(),
            request,
        )
    except Exception:  # noqa: BLE001 - the caller tells the user plainly
        logger.exception("storing request for %s failed", handle(sender_id))
        return None
    if how == "stored":
        notify_clinic_soon()
    return reference
