"""The booking form: validate each answer, confirm, store, notify."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.replies import (
    CHANGE_WORDS,
    NO,
    SKIP,
    YES,
    clean_concern,
    details_given,
    email_in,
    gave_other_details,
    only_other_details,
    phone_in,
    requested_change,
)
from actions.requests import Unchecked, booking_request, store_request
from bot.booking.contact import display_phone
from bot.booking.when import Problem, parse_preferred_time
from bot.conversation_ids import handle
from bot.nlp.details import NO_EMAIL, clean_name

logger = logging.getLogger(__name__)

FORM_SLOTS = (
    "first_name",
    "phone",
    "email",
    "preferred_time",
    "concern",
    "booking_confirmed",
)
DERIVED_SLOTS = ("preferred_start", "preferred_end", "preferred_label")
MAX_FAILURES = 2


def now() -> datetime:
    """The current time; tests replace it to pin the clock."""
    return datetime.now(timezone.utc)


class ContactValidation:
    """Name and phone checks shared by the booking and callback forms; after
    two misses on one slot the user is offered a way out."""

    def _failed(
        self, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        failures = dict(tracker.get_slot("form_failures") or {})
        failures[slot] = failures.get(slot, 0) + 1
        if failures[slot] >= MAX_FAILURES:
            clinic = services.clinic()
            dispatcher.utter_message(response="utter_form_trouble", phone=clinic.phone)
            failures[slot] = 0
        return {slot: None, "form_failures": failures}

    def _accept_or_reask(
        self,
        slot: str,
        cleaned: str | None,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
    ) -> dict[str, Any]:
        """Keep a cleaned answer, or say ``utter_invalid_<slot>`` and count a miss.

        A message that answered another question instead ("sorry, my name's
        Jess not Jes" when asked for the phone) is no miss: that detail is
        taken and the question is simply asked again."""
        if cleaned:
            return {slot: cleaned}
        if gave_other_details(slot, tracker):
            return {slot: None}
        dispatcher.utter_message(response=f"utter_invalid_{slot}")
        return self._failed(slot, dispatcher, tracker)

    async def validate_first_name(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return self._accept_or_reask(
            "first_name", clean_name(str(value or "")), dispatcher, tracker
        )

    async def validate_phone(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return self._accept_or_reask("phone", phone_in(value), dispatcher, tracker)


class ValidateBookingForm(ContactValidation, FormValidationAction):
    """Checks every answer of the booking form."""

    def name(self) -> str:
        return "validate_booking_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        return list(FORM_SLOTS)

    async def extract_concern(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Reuse a body part or condition named earlier instead of asking."""
        if tracker.get_slot("concern"):
            return {}
        mentioned = tracker.get_slot("condition") or tracker.get_slot("body_part")
        return {"concern": mentioned} if mentioned else {}

    async def validate_email(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        text = str(value or "")
        if SKIP.match(text) or text == NO_EMAIL:
            return {"email": NO_EMAIL}
        email = email_in(text)
        if not email and YES.match(text):
            # "yes" to "If you'd like an email too, type your address": not a
            # wrong address; the question again says what to type.
            return {"email": None}
        return self._accept_or_reask("email", email, dispatcher, tracker)

    async def validate_preferred_time(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        clinic = services.clinic()
        text = str(value or "")[:200]
        result = parse_preferred_time(text, clinic, now())
        if isinstance(result, Problem):
            day = result.day.strftime("%a %-d %b") if result.day else "then"
            dispatcher.utter_message(
                response=f"utter_time_{result.reason}",
                day=day,
                hours=clinic.hours_text(),
            )
            return {
                **self._failed("preferred_time", dispatcher, tracker),
                **{s: None for s in DERIVED_SLOTS},
            }
        dispatcher.utter_message(response="utter_time_understood", label=result.label)
        return {
            "preferred_time": text,
            "preferred_start": result.start.isoformat(),
            "preferred_end": result.end.isoformat(),
            "preferred_label": result.label,
        }

    async def validate_concern(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if only_other_details("concern", tracker):
            # "actually make that Thursday morning": a change of time, taken
            # by its own slot; the concern is still to be asked.
            return {"concern": None}
        return self._accept_or_reask(
            "concern", clean_concern(str(value or "")), dispatcher, tracker
        )

    async def validate_booking_confirmed(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        text = str(value or "")
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        given = details_given(tracker)
        change = requested_change(text)
        if (
            not change
            and len(given) == 1
            and (intent == "change_detail" or CHANGE_WORDS.search(text))
        ):
            change = next(iter(given))
        if change or intent == "change_detail":
            slot = change or "phone"
            if slot in given:
                updated = await self._changed_in_place(
                    slot, given[slot], dispatcher, tracker, domain
                )
                if updated is not None:
                    return {**updated, "booking_confirmed": None}
            dispatcher.utter_message(response="utter_change_ok")
            cleared = {slot: None, "booking_confirmed": None}
            if slot == "preferred_time":
                cleared.update({s: None for s in DERIVED_SLOTS})
            return cleared
        if intent == "affirm" or YES.match(text):
            return {"booking_confirmed": True}
        if intent in ("deny", "stop") or NO.match(text):
            return {"booking_confirmed": False}
        dispatcher.utter_message(response="utter_invalid_confirmation")
        return {"booking_confirmed": None}

    async def _changed_in_place(
        self,
        slot: str,
        detail: str,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any] | None:
        """ "Change my number to 0423 987 655" at the summary: the new value
        from the same message, checked by the slot's own validation (None
        when it fails, and the slot is asked for). The summary follows."""
        if slot in tracker.slots_to_validate():
            # Its mapping took it this turn and its validation has spoken.
            checked = {}
            if not tracker.get_slot(slot):
                return None
        else:
            validate = getattr(self, f"validate_{slot}", None)
            if validate is None:
                return None
            checked = await validate(detail, dispatcher, tracker, domain)
            if not checked.get(slot):
                return None
        if slot != "preferred_time":  # that one said "Got it: Thu 3 Dec"
            dispatcher.utter_message(response="utter_change_done")
        return checked


def form_reset(keep_contact: bool = False) -> list[EventType]:
    """Clear the form so the next booking starts fresh."""
    slots = FORM_SLOTS + DERIVED_SLOTS + ("form_failures", "requested_slot")
    if keep_contact:
        slots = tuple(s for s in slots if s not in ("first_name", "phone", "email"))
    return [SlotSet(slot, None) for slot in slots]


class ActionSubmitBooking(Action):
    """Store the confirmed request once, give the reference, tell the clinic."""

    def name(self) -> str:
        return "action_submit_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("booking_confirmed") is not True:
            dispatcher.utter_message(response="utter_booking_not_stored")
            return form_reset(keep_contact=True)
        try:
            request = booking_request(tracker)
        except Unchecked as problem:
            logger.warning(
                "not storing a booking for %s: %s failed its check",
                handle(tracker.sender_id),
                problem,
            )
            dispatcher.utter_message(response="utter_booking_unchecked")
            return form_reset()
        reference = await store_request(request, tracker.sender_id)
        if reference is None:
            dispatcher.utter_message(
                response="utter_booking_failed", phone=services.clinic().phone
            )
            return [SlotSet("booking_confirmed", None)]
        dispatcher.utter_message(
            response="utter_booking_stored",
            reference=reference,
            first_name=request.first_name,
            phone=display_phone(request.phone),
            label=request.preferred_label,
        )
        return [SlotSet("booking_reference", reference), *form_reset(True)]


class ActionCancelBooking(Action):
    """ "Stop", "cancel", "never mind": end either form, store nothing."""

    def name(self) -> str:
        return "action_cancel_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.active_loop_name == "callback_form":
            dispatcher.utter_message(response="utter_callback_cancelled")
        else:
            dispatcher.utter_message(response="utter_booking_cancelled")
        return [ActiveLoop(None), *form_reset(keep_contact=True)]


class ActionAskBookingConfirmed(Action):
    """The summary before anything is stored, with the consent question."""

    def name(self) -> str:
        return "action_ask_booking_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        email = tracker.get_slot("email")
        phone = tracker.get_slot("phone")
        dispatcher.utter_message(
            response="utter_confirm_booking",
            name=tracker.get_slot("first_name"),
            phone=display_phone(phone) if phone else "",
            email="(none)" if email in (None, NO_EMAIL) else email,
            label=tracker.get_slot("preferred_label"),
            concern=tracker.get_slot("concern"),
        )
        return []
