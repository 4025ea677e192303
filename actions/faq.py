"""Actions around the FAQ answers: the disclaimer and "can it help my ...?"."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.nlp.terms import Term, find_term


class ActionGiveDisclaimer(Action):
    """Say the one-line medical disclaimer once per conversation."""

    def name(self) -> str:
        return "action_give_disclaimer"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        if tracker.get_slot("disclaimer_given"):
            return []
        dispatcher.utter_message(response="utter_disclaimer")
        return [SlotSet("disclaimer_given", True)]


def mentioned_terms(tracker: Tracker) -> list[Term]:
    """Terms named in the latest message, conditions before body parts."""
    entities = tracker.latest_message.get("entities") or []
    found: list[Term] = []
    for label in ("condition", "body_part"):
        for entity in entities:
            if entity.get("entity") != label:
                continue
            term = find_term(str(entity.get("value", "")))
            if term and term not in found:
                found.append(term)
    return found


class ActionAnswerConditions(Action):
    """Tell whether the article lists the body part or condition the user named."""

    def name(self) -> str:
        return "action_answer_conditions"

    async def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        terms = mentioned_terms(tracker)
        if not terms:
            dispatcher.utter_message(response="utter_faq_conditions_treated")
            return []
        term = deciding_term(terms)
        if term.listed:
            dispatcher.utter_message(
                response="utter_condition_listed",
                term=term.name,
                listed_as=term.listed_as,
            )
        elif term.id == "myofascial_pain":
            dispatcher.utter_message(
                response="utter_condition_trigger_points", term=term.name
            )
        elif term.related:
            dispatcher.utter_message(
                response="utter_condition_related", term=term.name, related=term.related
            )
        else:
            dispatcher.utter_message(
                response="utter_condition_not_listed", term=term.name
            )
        return slot_events(terms)


def deciding_term(terms: list[Term]) -> Term:
    """The condition the patient named decides, whatever body part comes with
    it ("tendonitis in my knee" is about tendonitis); only without one does a
    body part answer, a listed one first."""
    conditions = [t for t in terms if t.label == "condition"]
    if conditions:
        return conditions[0]
    return next(
        (t for t in terms if t.listed), next((t for t in terms if t.related), terms[0])
    )


def slot_events(terms: list[Term]) -> list[dict[str, Any]]:
    """Canonical names in the slots, so a later booking can reuse them."""
    events = []
    for label in ("condition", "body_part"):
        term: Term | None = next((t for t in terms if t.label == label), None)
        if term:
            events.append(SlotSet(label, term.name))
    return events
