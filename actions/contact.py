"""Point people to the clinic: how to book and how to reach a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.clinic import load_clinic


class ActionShareClinicContact(Action):
    """Give booking or contact details from the clinic's settings file."""

    def name(self) -> str:
        return "action_share_clinic_contact"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        clinic = load_clinic()
        details = {
            "clinic_name": clinic.name,
            "phone": clinic.phone,
            "booking_link": clinic.booking_link,
            "email": clinic.staff_email,
            "hours": clinic.hours_text(),
        }
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "human_handoff":
            dispatcher.utter_message(response="utter_clinic_contact", **details)
        else:
            dispatcher.utter_message(response="utter_book_appointment", **details)
        return []
