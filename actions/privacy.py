""""Forget me": the patient's own request to delete this conversation."""

from __future__ import annotations

import asyncio
import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from bot.privacy.requests import forget_in_bookings

logger = logging.getLogger(__name__)


class ActionForgetMe(Action):
    """Deletes what the conversation left in the bookings database and in
    this server's booking spool (a request the clinic has not received
    yet: once it has), then sets
    ``forget_me``, on which the tracker store deletes the conversation
    itself instead of saving the turn. If the database cannot be reached,
    nothing is claimed: the patient is told to try again or call."""

    def name(self) -> str:
        return "action_forget_me"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        phone = services.clinic().phone
        try:
            counts = await asyncio.to_thread(
                forget_in_bookings,
                services.booking_store(),
                services.handoff_queue(),
                tracker.sender_id,
                services.booking_spool(),
            )
        except Exception:  # noqa: BLE001 - never claim a deletion that failed
            logger.exception("could not forget a conversation")
            dispatcher.utter_message(response="utter_forget_failed", phone=phone)
            return []
        if counts["after_notice"]:
            dispatcher.utter_message(
                response="utter_forgotten_after_notice", phone=phone
            )
        else:
            dispatcher.utter_message(response="utter_forgotten")
        return [SlotSet("forget_me", True)]
