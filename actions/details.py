"""Details given with no form running, and questions about the clinic's sessions."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.fallback import ActionHandleFallback
from bot.booking.contact import display_phone
from bot.nlp.details import NO_EMAIL, given


def describe(details: dict[str, str]) -> str:
    """ "your number (0422 111 333) and your email (...)" for the reply."""
    parts = []
    if phone := details.get("phone_number"):
        parts.append(f"your number ({display_phone(phone)})")
    if (email := details.get("email_address")) == NO_EMAIL:
        parts.append("that you'd rather not give an email")
    elif email:
        parts.append(f"your email ({email})")
    if when := details.get("time_phrase"):
        parts.append(f"when suits you ({when})")
    if not parts and details.get("person_name"):
        parts.append("your name")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class ActionAcknowledgeDetails(Action):
    """ "I'm Ben, my number is ..." with no form running: the slots are already
    set by their entity mappings; say so and offer the booking. A bare answer
    with nothing recognisable in it is a misunderstanding: did-you-mean."""

    def name(self) -> str:
        return "action_acknowledge_details"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        details = given(tracker.latest_message)
        if not details:
            return await ActionHandleFallback().run(dispatcher, tracker, domain)
        name = details.get("person_name")
        dispatcher.utter_message(
            response="utter_details_noted",
            name_part=f", {name}" if name else "",
            details=describe(details),
        )
        return []


class ActionAnswerSessionPlan(Action):
    """How long appointments take comes from clinic.yml; the number of
    sessions is the physio's call at the assessment, never a guess here."""

    def name(self) -> str:
        return "action_answer_session_plan"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        clinic = services.clinic()
        said = " ".join(t for t in (clinic.session_length, clinic.session_plan) if t)
        if said:
            dispatcher.utter_message(response="utter_session_plan", clinic_says=said)
        else:
            dispatcher.utter_message(
                response="utter_session_plan_ask_clinic", phone=clinic.phone
            )
        return []
