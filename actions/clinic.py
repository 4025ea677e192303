"""Questions about the clinic itself, answered from ``clinic.yml``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from bot.clinic.answers import CLINIC_INTENTS, answer


class ActionAnswerClinicQuestion(Action):
    """Hours, location, contact, fees, rebates, referral, what to bring: the
    facts come from the clinic's file, the wording from the domain."""

    def name(self) -> str:
        return "action_answer_clinic_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        if intent not in CLINIC_INTENTS:
            intent = "clinic_contact"
        clinic = services.clinic()
        now = datetime.now(timezone.utc)
        for response, values in answer(intent, message.get("text") or "", clinic, now):
            dispatcher.utter_message(response=response, **values)
        return []
