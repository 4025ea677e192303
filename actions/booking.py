"""The booking form: validate each answer, confirm, store, notify."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from bot.booking.contact import display_phone, normalise_email, normalise_phone
from bot.booking.records import BookingRequest
from bot.booking.spool import submit_or_queue
from bot.booking.when import Problem, parse_preferred_time
from bot.conversation_ids import channel_of, handle
from bot.nlp.details import NO_EMAIL, clean_name, find_email, find_phone, given, tidy
from bot.notify.outbox import deliver_due

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
SKIP = re.compile(
    r"^\s*(skip|no|nope|nah|none|no email|no thanks|don'?t have (one|an email)|"
    r"rather not( say)?|n/?a|-)\s*[.!]*\s*$",
    re.I,
)
YES = re.compile(
    r"^\s*(/affirm|y|yes|yep|yeah|yup|sure|ok|okay|correct|confirm|"
    r"that'?s (right|correct)|all good|go ahead|yes please)\b",
    re.I,
)
NO = re.compile(r"^\s*(/deny|n|no|nope|nah|don'?t|do not|cancel)\b", re.I)
CHANGES = {
    "phone": re.compile(r"\b(number|phone|mobile|mob|ph)\b", re.I),
    "email": re.compile(r"\b(e-?mail|address)\b", re.I),
    "preferred_time": re.compile(r"\b(time|day|date|when|morning|arvo)\b", re.I),
    "concern": re.compile(r"\b(concern|reason|problem|help with|injury|pain)\b", re.I),
    "first_name": re.compile(r"\bname\b", re.I),
}
CHANGE_WORDS = re.compile(r"\b(change|wrong|fix|update|edit|correct|actually)\b", re.I)


def clean_concern(text: str) -> str | None:
    concern = re.sub(r"\s+", " ", tidy(text)).strip()
    if len(concern) < 2 or not re.search(r"[^\W\d_]", concern):
        return None
    if YES.fullmatch(concern) or NO.fullmatch(concern) or SKIP.match(concern):
        return None
    return concern[:300]


def phone_in(value: Any) -> str | None:
    """An Australian number from "0412 345 678", "mobile: 0412 345 678" or
    "ring me on 0412 345 678 after 5"."""
    text = tidy(str(value or ""))
    if phone := normalise_phone(text):
        return phone
    found = find_phone(text)
    return found.value if found else None


DETAIL_SLOTS = {
    "person_name": "first_name",
    "phone_number": "phone",
    "email_address": "email",
    "time_phrase": "preferred_time",
    "concern_phrase": "concern",
}


def gave_other_details(slot: str, tracker: Tracker) -> bool:
    """Whether the latest message carried a detail for another slot."""
    return bool(set(details_given(tracker)) - {slot})


# Words that carry no concern of their own: "actually make that Thursday
# morning", "can you change it to 0412 345 678 please".
FILLER = frozenset(
    "a about actually an and at be but can change could do for hmm i i'm in "
    "instead is it it's just let's make maybe me mean my no oh ok okay on or "
    "please prefer rather so sorry that the then there to um wait we would "
    "yeah".split()
)


def only_other_details(slot: str, tracker: Tracker) -> bool:
    """Whether the latest message is another slot's detail plus filler
    words: an answer to a different question, not an answer to ``slot``."""
    text = str(tracker.latest_message.get("text") or "")
    spans = [
        (entity["start"], entity["end"])
        for entity in tracker.latest_message.get("entities") or []
        if DETAIL_SLOTS.get(entity.get("entity")) not in (None, slot)
        and isinstance(entity.get("start"), int)
        and isinstance(entity.get("end"), int)
    ]
    if not spans:
        return False
    for start, end in sorted(spans, reverse=True):
        text = f"{text[:start]} {text[end:]}"
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())
    return all(word in FILLER for word in words)


def details_given(tracker: Tracker) -> dict[str, str]:
    """slot -> the detail the latest message gave for it, by its entities."""
    return {
        DETAIL_SLOTS[entity]: value
        for entity, value in given(tracker.latest_message).items()
        if entity in DETAIL_SLOTS
    }


def email_in(value: Any) -> str | None:
    """An email address from "jo@example.com" or "it's jo@example.com"; an
    answer with two addresses in it is ambiguous (or a header injection)."""
    text = tidy(str(value or "")).strip()
    if email := normalise_email(text):
        return email
    if "\n" in text or "\r" in text or text.count("@") != 1:
        return None
    found = find_email(text)
    return found.value if found else None


def requested_change(text: str) -> str | None:
    """Which slot "change my number" and the like asks to edit."""
    if not CHANGE_WORDS.search(text or ""):
        return None
    for slot, pattern in CHANGES.items():
        if pattern.search(text):
            return slot
    return None


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
