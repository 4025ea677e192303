"""Hand the conversation to a person at the clinic."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime, timezone

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.booking import notify_clinic_soon
from bot.booking.store import StaffMessage
from bot.channels.floods import CLIENT_KEY
from bot.channels.ids import channel_of
from bot.handoff import is_open, transcript

logger = logging.getLogger(__name__)


def now() -> datetime:
    """The current time; tests replace it to pin the clock."""
    return datetime.now(timezone.utc)


class ActionHandoffHuman(Action):
    """Open: put the conversation in the console's live queue, email staff
    that it waits (the outbox retries until it goes) and pause; a person
    replies in the same chat from the console. Closed: hours and phone."""

    def name(self) -> str:
        return "action_handoff_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        clinic = services.clinic()
        if not is_open(clinic, now()):
            dispatcher.utter_message(
                response="utter_handoff_closed",
                hours=clinic.hours_text(),
                phone=clinic.phone,
            )
            return []
        asked = (tracker.latest_message or {}).get("message_id") or len(tracker.events)
        # Hashed: a key cut to its column's length must not merge two long ids.
        conversation = hashlib.sha256(tracker.sender_id.encode("utf8")).hexdigest()
        key = f"handoff:{conversation}:{str(asked)[:40]}"
        message = StaffMessage(
            subject=f"Chat handoff: {tracker.sender_id}",
            body=(
                f"A patient asked to talk to a person.\n"
                f"Conversation: {tracker.sender_id}\n"
                f"Channel: {tracker.get_latest_input_channel() or '-'}\n\n"
                f"{transcript(tracker.events)}\n\n"
                f"The patient is waiting in the chat: take the conversation in "
                f"the console (/staff/handoffs) and reply there. Without the "
                f"console, give it back to the assistant with:\n"
                f"  python -m bot handoff resume {tracker.sender_id}\n"
            ),
            # The same request run again (a retried call) queues no second email.
            dedupe_key=key,
        )
        channel = channel_of(tracker.sender_id) or "-"
        client = ((tracker.latest_message or {}).get("metadata") or {}).get(
            CLIENT_KEY
        )
        try:
            outcome = await asyncio.to_thread(
                services.handoff_queue().ask, tracker.sender_id, channel, key, client
            )
            if outcome.handoff is None:
                dispatcher.utter_message(
                    response="utter_handoff_limited", phone=clinic.phone
                )
                return []
            if outcome.new:
                await asyncio.to_thread(
                    services.booking_store().queue_staff_message, message
                )
        except Exception:  # noqa: BLE001 - without staff, don't leave them waiting
            logger.exception("handoff for %s could not be queued", tracker.sender_id)
            dispatcher.utter_message(
                response="utter_handoff_failed", phone=clinic.phone
            )
            return []
        # The outbox sends it now, in the background, and retries on failure.
        notify_clinic_soon()
        dispatcher.utter_message(response="utter_handoff_open")
        # Paused, but listening: a message the patient sends while waiting is
        # a fresh turn, so an emergency among them is still answered
        # (bot/live_handoff.py).
        return [ConversationPaused(), ActionExecuted("action_listen")]
