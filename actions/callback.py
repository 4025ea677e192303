"""The callback request offered when the clinic is closed: name and phone only."""

from __future__ import annotations

import logging

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.booking import ContactValidation
from actions.requests import Unchecked, checked_slot, store_request
from bot.booking.contact import display_phone, normalise_phone
from bot.booking.records import BookingRequest
from bot.conversation_ids import channel_of
from bot.nlp.details import clean_name

logger = logging.getLogger(__name__)

CALLBACK_CONCERN = "Asked to talk to a person; please call back."


class ValidateCallbackForm(ContactValidation, FormValidationAction):
    """Same name and phone checks as the booking form."""

    def name(self) -> str:
        return "validate_callback_form"


def callback_request(tracker: Tracker) -> BookingRequest:
    """Asking for a call and giving a number for it is the consent to be called.
    Name and phone are checked again: the action server trusts no tracker."""
    return BookingRequest(
        kind="callback",
        first_name=checked_slot(
            "first_name", tracker.get_slot("first_name"), clean_name
        ),
        phone=checked_slot("phone", tracker.get_slot("phone"), normalise_phone),
        concern=CALLBACK_CONCERN,
        consent=True,
        channel=channel_of(tracker.sender_id),
        conversation_id=tracker.sender_id,
    )


class ActionSubmitCallbackForm(Action):
    """Store the callback request like a booking and notify the clinic."""

    def name(self) -> str:
        return "action_submit_callback_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        clinic = services.clinic()
        try:
            request = callback_request(tracker)
        except Unchecked as problem:
            logger.warning(
                "not storing a callback for %s: %s failed its check",
                tracker.sender_id,
                problem,
            )
            dispatcher.utter_message(response="utter_booking_unchecked")
            return [
                SlotSet("first_name", None),
                SlotSet("phone", None),
                SlotSet("requested_slot", None),
            ]
        reference = await store_request(request, tracker.sender_id)
        if reference is None:
            dispatcher.utter_message(
                response="utter_booking_failed", phone=clinic.phone
            )
            return [SlotSet("requested_slot", None)]
        dispatcher.utter_message(
            response="utter_callback_stored",
            first_name=request.first_name,
            reference=reference,
            phone=display_phone(request.phone),
            hours=clinic.hours_text(),
        )
        return [
            SlotSet("booking_reference", reference),
            SlotSet("requested_slot", None),
            SlotSet("form_failures", None),
        ]
