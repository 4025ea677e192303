"""Hand the conversation to a person at the clinic."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.clinic import load_clinic
from bot.handoff import is_open, transcript
from bot.notify.mail import send_mail
from bot.settings import load_settings

logger = logging.getLogger(__name__)


def now() -> datetime:
    """The current time; tests replace it to pin the clock."""
    return datetime.now(timezone.utc)


class ActionHandoffHuman(Action):
    """Open: notify staff with the transcript and pause. Closed: hours and phone."""

    def name(self) -> str:
        return "action_handoff_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        clinic = load_clinic()
        if not is_open(clinic, now()):
            dispatcher.utter_message(
                response="utter_handoff_closed",
                hours=clinic.hours_text(),
                phone=clinic.phone,
            )
            return []
        settings = load_settings()
        body = (
            f"A patient asked to talk to a person.\n"
            f"Conversation: {tracker.sender_id}\n"
            f"Channel: {tracker.get_latest_input_channel() or '-'}\n\n"
            f"{transcript(tracker.events)}\n\n"
            f"Reply in the conversation, then give it back to the assistant with:\n"
            f"  python -m bot handoff resume {tracker.sender_id}\n"
        )
        try:
            await asyncio.to_thread(
                send_mail, settings.smtp, clinic.staff_email,
                f"Chat handoff: {tracker.sender_id}", body,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - without staff, don't leave them waiting
            logger.exception("handoff email for %s failed", tracker.sender_id)
            dispatcher.utter_message(
                response="utter_handoff_failed", phone=clinic.phone
            )
            return []
        dispatcher.utter_message(response="utter_handoff_open")
        return [ConversationPaused()]
