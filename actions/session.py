"""A new conversation session: what a returning patient keeps."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

# Kept from the last session, so a patient coming back on WhatsApp next week
# is not asked again (the booking summary shows them for a check). Not kept:
# a half-filled form, the preferred time ("tomorrow" meant another day), the
# concern, and the disclaimer, which is said again.
CARRIED_SLOTS = ("first_name", "phone", "email")
SESSION_START_METADATA_SLOT = "session_started_metadata"


class ActionSessionStart(Action):
    """Rasa's session start with only the contact details carried over."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[dict[str, Any]] = [SessionStarted()]
        metadata = tracker.get_slot(SESSION_START_METADATA_SLOT)
        if metadata:
            events.append(SlotSet(SESSION_START_METADATA_SLOT, metadata))
        for slot in CARRIED_SLOTS:
            value = tracker.get_slot(slot)
            if value:
                events.append(SlotSet(slot, value))
        events.append(ActionExecuted("action_listen"))
        return events
