"""The callback request offered when the clinic is closed: name and phone only."""

from __future__ import annotations

import asyncio
import logging

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.booking import ContactValidation, notify_clinic_soon
from bot.booking.contact import display_phone
from bot.booking.store import BookingRequest
from bot.clinic import load_clinic

logger = logging.getLogger(__name__)

CALLBACK_CONCERN = "Asked to talk to a person; please call back."


class ValidateCallbackForm(ContactValidation, FormValidationAction):
    """Same name and phone checks as the booking form."""

    def name(self) -> str:
        return "validate_callback_form"


def callback_request(tracker: Tracker) -> BookingRequest:
    """Asking for a call and giving a number for it is the consent to be called."""
    return BookingRequest(
        kind="callback",
        first_name=tracker.get_slot("first_name"),
        phone=tracker.get_slot("phone"),
        concern=CALLBACK_CONCERN,
        consent=True,
        channel=tracker.get_latest_input_channel(),
        conversation_id=tracker.sender_id,
    )


class ActionSubmitCallbackForm(Action):
    """Store the callback request like a booking and notify the clinic."""

    def name(self) -> str:
        return "action_submit_callback_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        clinic = load_clinic()
        try:
            booking, _ = await asyncio.to_thread(
                services.booking_store().submit, callback_request(tracker)
            )
        except Exception:  # noqa: BLE001 - tell the user plainly, never pretend
            logger.exception("storing callback for %s failed", tracker.sender_id)
            dispatcher.utter_message(
                response="utter_booking_failed", phone=clinic.phone
            )
            return [SlotSet("requested_slot", None)]
        notify_clinic_soon()
        dispatcher.utter_message(
            response="utter_callback_stored",
            first_name=booking.name,
            reference=booking.reference,
            phone=display_phone(booking.phone),
            hours=clinic.hours_text(),
        )
        return [
            SlotSet("booking_reference", booking.reference),
            SlotSet("requested_slot", None),
            SlotSet("form_failures", None),
        ]
