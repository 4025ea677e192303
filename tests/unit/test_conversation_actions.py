"""Repair, details given unprompted, session plan and session start, driven
with real Tracker and CollectingDispatcher objects."""

from __future__ import annotations

from rasa_sdk.events import ActionExecuted, SessionStarted

from actions.details import (
    ActionAcknowledgeDetails,
    ActionAnswerSessionPlan,
    describe,
)
from actions.fallback import ActionRepairAnswer
from actions.session import ActionSessionStart
from bot import PROJECT_ROOT
from bot.clinic import facts as clinic_module
from tests.conftest import make_tracker


def entity(label: str, value: str) -> dict:
    return {"entity": label, "value": value, "start": 0, "end": len(value)}


def answered(text: str, intent: str, runners_up: list[tuple[str, float]]) -> dict:
    """A user event whose parse data ranks ``intent`` first."""
    ranking = [{"name": intent, "confidence": 0.6}] + [
        {"name": n, "confidence": c} for n, c in runners_up
    ]
    return {
        "event": "user",
        "text": text,
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": 0.6},
            "intent_ranking": ranking,
            "entities": [],
        },
    }


async def test_repair_offers_the_previous_questions_runners_up_and_a_person(
    dispatcher, domain
):
    history = [
        answered(
            "how long does it last",
            "faq_needle_duration",
            [("faq_long_term", 0.3), ("greet", 0.05), ("faq_aftercare", 0.04)],
        )
    ]
    tracker = make_tracker("that's not what I asked", "repair", history=history)
    await ActionRepairAnswer().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_repair"
    assert [b["payload"] for b in message["buttons"]] == [
        "/faq_long_term",
        "/faq_aftercare",
        "/human_handoff",
    ]
    assert "welcome" not in domain["responses"]["utter_repair"][0]["text"].lower()


async def test_repair_with_nothing_before_it_offers_topics_and_a_person(
    dispatcher, domain
):
    tracker = make_tracker("wrong answer", "repair")
    await ActionRepairAnswer().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_repair_no_topics"
    payloads = [
        b["payload"] for b in domain["responses"][message["response"]][0]["buttons"]
    ]
    assert "/human_handoff" in payloads


async def test_details_given_unprompted_are_acknowledged_and_booking_offered(
    dispatcher, domain
):
    tracker = make_tracker(
        "I'm Ben, my number is 0422 111 333",
        "inform",
        entities=[
            entity("person_name", "Ben"),
            entity("phone_number", "+61422111333"),
        ],
    )
    await ActionAcknowledgeDetails().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_details_noted"
    assert message["name_part"] == ", Ben"
    assert message["details"] == "your number (0422 111 333)"


def test_no_email_is_read_back_in_words():
    assert describe({"phone_number": "+61401222333", "email_address": "none"}) == (
        "your number (0401 222 333) and that you'd rather not give an email"
    )


async def test_an_answer_with_no_details_outside_a_form_is_a_fallback(
    dispatcher, domain
):
    tracker = make_tracker("blue", "inform", ranking=[("faq_does_it_hurt", 0.2)])
    await ActionAcknowledgeDetails().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_did_you_mean"


async def test_session_plan_uses_the_clinics_words(dispatcher, domain, monkeypatch):
    clinic = clinic_module.load_clinic(PROJECT_ROOT / "clinic.yml")
    monkeypatch.setattr(
        "actions.services.clinic",
        lambda: clinic.__class__(
            **{
                **clinic.__dict__,
                "session_length": "About an hour.",
                "session_plan": "Weekly at first.",
            }
        ),
    )
    await ActionAnswerSessionPlan().run(dispatcher, make_tracker(), domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_session_plan"
    assert message["clinic_says"] == "About an hour. Weekly at first."


async def test_session_plan_without_a_length_sends_people_to_reception(
    dispatcher, domain, monkeypatch
):
    clinic = clinic_module.load_clinic(PROJECT_ROOT / "clinic.yml")
    monkeypatch.setattr(
        "actions.services.clinic",
        lambda: clinic.__class__(
            **{**clinic.__dict__, "session_length": None, "session_plan": None}
        ),
    )
    await ActionAnswerSessionPlan().run(dispatcher, make_tracker(), domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_session_plan_ask_clinic"
    assert message["phone"] == clinic.phone


async def test_a_new_session_keeps_contact_details_only(dispatcher, domain):
    tracker = make_tracker(
        slots={
            "first_name": "Ben",
            "phone": "+61422111333",
            "email": None,
            "preferred_time": "tomorrow",
            "concern": "neck",
            "disclaimer_given": True,
            "session_started_metadata": {"channel": "whatsapp"},
        }
    )
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    assert events[0] == SessionStarted()
    assert events[-1] == ActionExecuted("action_listen")
    kept = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert kept == {
        "first_name": "Ben",
        "phone": "+61422111333",
        "session_started_metadata": {"channel": "whatsapp"},
    }
    assert dispatcher.messages == []


def test_the_domain_lets_the_custom_session_start_decide():
    import yaml

    from bot import PROJECT_ROOT

    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    assert domain["session_config"]["carry_over_slots_to_new_session"] is False
    assert "action_session_start" in domain["actions"]
