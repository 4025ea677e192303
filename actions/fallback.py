"""What to do when the assistant did not understand."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.topics import TOPIC_TITLES

FALLBACK_INTENT = "nlu_fallback"
MAX_SUGGESTIONS = 3


def previous_user_intent(tracker: Tracker) -> str | None:
    """Intent of the user message before the latest one."""
    user_events = [e for e in tracker.events if e.get("event") == "user"]
    if len(user_events) < 2:
        return None
    return ((user_events[-2].get("parse_data") or {}).get("intent") or {}).get("name")


def suggestions(tracker: Tracker) -> list[dict[str, str]]:
    """Buttons for the likeliest topics of the message that was not understood."""
    ranking = tracker.latest_message.get("intent_ranking") or []
    buttons = []
    for candidate in ranking:
        name = candidate.get("name")
        if name in TOPIC_TITLES and name != "help":
            buttons.append({"title": TOPIC_TITLES[name], "payload": f"/{name}"})
        if len(buttons) == MAX_SUGGESTIONS:
            break
    buttons.append({"title": "Something else", "payload": "/help"})
    return buttons


class ActionHandleFallback(Action):
    """First miss: "did you mean" buttons. A second miss in a row: other routes."""

    def name(self) -> str:
        return "action_handle_fallback"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        if previous_user_intent(tracker) == FALLBACK_INTENT:
            dispatcher.utter_message(response="utter_fallback_options")
        else:
            dispatcher.utter_message(
                response="utter_did_you_mean", buttons=suggestions(tracker)
            )
        return []
