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
from actions.delivery import notify_clinic_soon
from bot.booking.records import StaffMessage
from bot.channels.floods import CLIENT_KEY
from bot.conversation_ids import channel_of, handle
from bot.handoff.resume import is_open

logger = logging.getLogger(__name__)


def now() -> datetime:
    """The current time; tests replace it to pin the clock."""
    return datetime.now(timezone.utc)


def handoff_email(
    conversation_id: str, chat: int, channel: str, key: str
) -> StaffMessage:
    """The email telling staff a patient waits: where to answer, and nothing
    the patient said or gave (an email is kept, forwarded and can wait in
    the outbox for days), nor the conversation's id (the widget's is the
    key to the patient's chat): its handle instead."""
    name = handle(conversation_id)
    return StaffMessage(
        subject=f"Chat handoff: {name}",
        body=(
            f"A patient asked to talk to a person.\n"
            f"Conversation: {name}\n"
            f"Channel: {channel}\n\n"
            f"The patient is waiting in the chat: open it in the console, "
            f"Live chats (/staff/handoffs/{chat}), to read the conversation "
            f"and reply there. Without the console, give it back to the "
            f"assistant with:\n"
            f"  python -m bot handoff resume {name}\n"
        ),
        # The same request run again (a retried call) queues no second email.
        dedupe_key=key,
    )


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
        channel = channel_of(tracker.sender_id) or "-"
        client = ((tracker.latest_message or {}).get("metadata") or {}).get(CLIENT_KEY)
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
                message = handoff_email(
                    tracker.sender_id, outcome.handoff.id, channel, key
                )
                await asyncio.to_thread(
                    services.booking_store().queue_staff_message, message
                )
        except Exception:  # noqa: BLE001 - without staff, don't leave them waiting
            logger.exception(
                "handoff for %s could not be queued", handle(tracker.sender_id)
            )
            dispatcher.utter_message(
                response="utter_handoff_failed", phone=clinic.phone
            )
            return []
        # The outbox sends it now, in the background, and retries on failure.
        notify_clinic_soon()
        dispatcher.utter_message(response="utter_handoff_open")
        # Paused, but listening: a message the patient sends while waiting is
        # a fresh turn, so an emergency among them is still answered
        # (bot/rasa/live_handoff.py).
        return [ConversationPaused(), ActionExecuted("action_listen")]
