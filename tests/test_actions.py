"""The custom actions, driven with real Tracker and CollectingDispatcher objects."""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions.contact import ActionShareClinicContact
from actions.fallback import ActionHandleFallback
from actions.faq import ActionAnswerConditions, ActionGiveDisclaimer
from bot.clinic import load_clinic
from tests.conftest import make_tracker, user_event


def entity(label: str, value: str) -> dict:
    return {"entity": label, "value": value, "start": 0, "end": len(value)}


async def test_disclaimer_is_given_the_first_time(dispatcher, domain):
    tracker = make_tracker("does it hurt", "faq_does_it_hurt")
    events = await ActionGiveDisclaimer().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_disclaimer"]
    assert events == [SlotSet("disclaimer_given", True)]


async def test_disclaimer_is_not_repeated(dispatcher, domain):
    tracker = make_tracker(
        "side effects?", "faq_side_effects", slots={"disclaimer_given": True}
    )
    events = await ActionGiveDisclaimer().run(dispatcher, tracker, domain)
    assert dispatcher.messages == []
    assert events == []


async def test_listed_condition_is_confirmed_and_kept(dispatcher, domain):
    tracker = make_tracker(
        "can it help my sciatia",
        "faq_conditions_treated",
        entities=[entity("condition", "Sciatia")],
    )
    events = await ActionAnswerConditions().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_condition_listed"
    assert message["listed_as"] == "sciatica"
    assert events == [SlotSet("condition", "sciatica")]


async def test_body_part_maps_to_the_article_wording(dispatcher, domain):
    tracker = make_tracker(
        "sore hips", "faq_conditions_treated", entities=[entity("body_part", "hips")]
    )
    events = await ActionAnswerConditions().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_condition_listed"
    assert message["listed_as"] == "hip and gluteal pain"
    assert events == [SlotSet("body_part", "hip")]


async def test_unlisted_condition_is_not_claimed(dispatcher, domain):
    tracker = make_tracker(
        "plantar fasciitis?",
        "faq_conditions_treated",
        entities=[entity("condition", "plantar fasciitis")],
    )
    events = await ActionAnswerConditions().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_condition_not_listed"
    assert message["term"] == "plantar fasciitis"
    assert events == [SlotSet("condition", "plantar fasciitis")]


async def test_listed_term_wins_over_unlisted_one(dispatcher, domain):
    tracker = make_tracker(
        "my ankle and my knee",
        "faq_conditions_treated",
        entities=[entity("body_part", "ankle"), entity("body_part", "knee")],
    )
    await ActionAnswerConditions().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_condition_listed"
    assert message["term"] == "knee"


async def test_no_entity_lists_all_conditions(dispatcher, domain):
    tracker = make_tracker("what does it treat", "faq_conditions_treated")
    events = await ActionAnswerConditions().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_faq_conditions_treated"
    ]
    assert events == []


async def test_unknown_entity_value_falls_back_to_the_list(dispatcher, domain):
    tracker = make_tracker(
        "my spleen", "faq_conditions_treated", entities=[entity("body_part", "spleen")]
    )
    await ActionAnswerConditions().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_faq_conditions_treated"


async def test_first_fallback_suggests_the_top_topics(dispatcher, domain):
    tracker = make_tracker(
        "needle thing pain?",
        "nlu_fallback",
        ranking=[
            ("nlu_fallback", 0.5),
            ("faq_does_it_hurt", 0.4),
            ("greet", 0.1),
            ("faq_side_effects", 0.3),
            ("faq_aftercare", 0.2),
            ("faq_evidence", 0.1),
        ],
    )
    await ActionHandleFallback().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_did_you_mean"
    assert [b["payload"] for b in message["buttons"]] == [
        "/faq_does_it_hurt",
        "/faq_side_effects",
        "/faq_aftercare",
        "/help",
    ]


async def test_second_fallback_in_a_row_offers_other_routes(dispatcher, domain):
    history = [user_event("blah", "nlu_fallback")]
    tracker = make_tracker("blah blah", "nlu_fallback", history=history)
    await ActionHandleFallback().run(dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_fallback_options"]


async def test_fallback_after_an_understood_message_starts_over(dispatcher, domain):
    history = [user_event("blah", "nlu_fallback"), user_event("hi", "greet")]
    tracker = make_tracker("blah blah", "nlu_fallback", history=history)
    await ActionHandleFallback().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_did_you_mean"


async def test_booking_request_gets_the_clinic_booking_details(dispatcher, domain):
    tracker = make_tracker("book me in", "book_appointment")
    await ActionShareClinicContact().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    clinic = load_clinic()
    assert message["response"] == "utter_book_appointment"
    assert message["booking_link"] == clinic.booking_link
    assert message["phone"] == clinic.phone


async def test_handoff_gets_phone_and_hours(dispatcher, domain):
    tracker = make_tracker("real person pls", "human_handoff")
    await ActionShareClinicContact().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_clinic_contact"
    assert message["hours"].startswith("Mon 7 am–7 pm")
