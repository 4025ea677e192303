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


def topic_buttons(ranking: list[dict], leave_out: tuple[str, ...]) -> list[dict]:
    """Buttons for the best-ranked topics the assistant knows, at most
    MAX_SUGGESTIONS, without the intents in ``leave_out``."""
    buttons = []
    for candidate in ranking:
        name = candidate.get("name")
        if name in TOPIC_TITLES and name not in leave_out:
            buttons.append({"title": TOPIC_TITLES[name], "payload": f"/{name}"})
        if len(buttons) == MAX_SUGGESTIONS:
            break
    return buttons


def suggestions(tracker: Tracker) -> list[dict[str, str]]:
    """Buttons for the likeliest topics of the message that was not understood."""
    ranking = tracker.latest_message.get("intent_ranking") or []
    return [
        *topic_buttons(ranking, ("help",)),
        {"title": "Something else", "payload": "/help"},
    ]


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


def previous_question(tracker: Tracker) -> dict[str, Any]:
    """Parse data of the user message before the latest one."""
    user_events = [e for e in tracker.events if e.get("event") == "user"]
    return (user_events[-2].get("parse_data") or {}) if len(user_events) >= 2 else {}


def next_best_topics(tracker: Tracker) -> list[dict[str, str]]:
    """The previous question's runners-up: the topics it was likeliest to be
    after the one that was answered."""
    parse = previous_question(tracker)
    answered = (parse.get("intent") or {}).get("name")
    return topic_buttons(
        parse.get("intent_ranking") or [], (answered, "help", "human_handoff")
    )


class ActionRepairAnswer(Action):
    """ "That's not what I asked": an apology, the next-best topics for the
    previous question, and a person at the clinic."""

    def name(self) -> str:
        return "action_repair_answer"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        topics = next_best_topics(tracker)
        if not topics:
            dispatcher.utter_message(response="utter_repair_no_topics")
            return []
        person = {"title": "Talk to a person", "payload": "/human_handoff"}
        dispatcher.utter_message(response="utter_repair", buttons=[*topics, person])
        return []
