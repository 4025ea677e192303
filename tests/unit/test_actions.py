"""The custom actions, driven with real Tracker and CollectingDispatcher objects."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet

from actions.fallback import ActionHandleFallback
from actions.faq import ActionAnswerConditions, ActionGiveDisclaimer
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
    assert message["response"] == "utter_condition_related"
    assert message["term"] == "knee"


@pytest.mark.parametrize(
    "entities, response, term",
    [
        # The condition named decides, whatever body part comes with it.
        (
            [("condition", "tendonitis"), ("body_part", "knee")],
            "not_listed",
            "tendinopathy",
        ),
        (
            [("body_part", "neck"), ("condition", "fibromyalgia")],
            "not_listed",
            "fibromyalgia",
        ),
        ([("condition", "bursitis"), ("body_part", "hip")], "not_listed", "bursitis"),
        # Only headaches from the neck are on the article's list.
        ([("condition", "tension headache")], "not_listed", "tension headache"),
        ([("condition", "migraine headache")], "not_listed", "migraine"),
        ([("condition", "headache")], "related", "headache"),
        ([("condition", "neck headache")], "listed", "cervicogenic headache"),
        # Knots and tight muscles are not on the list.
        ([("condition", "knots")], "trigger_points", "myofascial pain"),
        ([("condition", "tight muscles")], "trigger_points", "myofascial pain"),
        # A knee, an elbow or a back is not the article's specific condition.
        ([("body_part", "knee")], "related", "knee"),
        ([("body_part", "elbow")], "related", "elbow"),
        ([("body_part", "back")], "related", "back"),
        ([("body_part", "lower back")], "listed", "lower back"),
        (
            [("condition", "tennis elbow"), ("body_part", "elbow")],
            "listed",
            "tennis elbow",
        ),
    ],
)
async def test_the_article_is_never_stretched(
    dispatcher, domain, entities, response, term
):
    tracker = make_tracker(
        "can it help?",
        "faq_conditions_treated",
        entities=[entity(label, value) for label, value in entities],
    )
    await ActionAnswerConditions().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert (message["response"], message["term"]) == (
        f"utter_condition_{response}",
        term,
    )


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


def datetime_in(hours: float):
    from datetime import datetime, timedelta, timezone

    return datetime.now(timezone.utc) + timedelta(hours=hours)


class TestHandoff:
    """Opening hours decide between pausing for staff and giving hours."""

    @staticmethod
    def at(hour: int, day: int = 24):
        from datetime import datetime
        from zoneinfo import ZoneInfo

        return datetime(2026, 11, day, hour, tzinfo=ZoneInfo("Australia/Brisbane"))

    async def test_open_queues_a_note_for_staff_and_pauses(
        self, dispatcher, domain, monkeypatch, store
    ):
        from rasa_sdk.events import ActionExecuted, ConversationPaused

        from actions import handoff
        from actions.delivery import pending_deliveries
        from bot.conversation_ids import handle

        monkeypatch.setattr(handoff, "now", lambda: self.at(10))
        history = [user_event("does it hurt", "faq_does_it_hurt")]
        tracker = make_tracker("real person pls", "human_handoff", history=history)
        events = await handoff.ActionHandoffHuman().run(dispatcher, tracker, domain)
        assert events == [ConversationPaused(), ActionExecuted("action_listen")]
        assert dispatcher.messages[0]["response"] == "utter_handoff_open"
        await pending_deliveries()
        [message] = store.sent
        assert message.subject == f"Chat handoff: {handle('test-user')}"
        assert "does it hurt" not in message.body and "test-user" not in message.body
        assert f"handoff resume {handle('test-user')}" in message.body
        [waiting] = store.handoffs.open()
        assert (waiting.conversation_id, waiting.status) == ("test-user", "waiting")

    async def test_a_slow_mail_server_does_not_hold_the_handoff(
        self, dispatcher, domain, monkeypatch, store
    ):
        """The action only queues the email; the outbox sends it after."""
        import time

        from actions import handoff, services
        from actions.delivery import pending_deliveries

        def slow_smtp(message):
            time.sleep(1.5)
            store.sent.append(message)

        monkeypatch.setattr(handoff, "now", lambda: self.at(10))
        monkeypatch.setattr(
            services, "notification_senders", lambda: {"staff_email": slow_smtp}
        )
        # Both databases at their schema first, as `make run` leaves them: the
        # time measured is the action's, not a first migration's.
        store.engine, store.handoffs.engine  # noqa: B018
        started = time.monotonic()
        await handoff.ActionHandoffHuman().run(
            dispatcher, make_tracker("human", "human_handoff"), domain
        )
        assert time.monotonic() - started < 1
        assert dispatcher.messages[0]["response"] == "utter_handoff_open"
        await pending_deliveries()
        assert len(store.sent) == 1

    async def test_mail_down_keeps_the_email_queued_until_it_goes(
        self, dispatcher, domain, monkeypatch, store
    ):
        from actions import handoff, services
        from actions.delivery import pending_deliveries
        from bot.notify.outbox import deliver_due

        def smtp_down(_message):
            raise OSError("smtp down")

        monkeypatch.setattr(handoff, "now", lambda: self.at(10))
        monkeypatch.setattr(
            services, "notification_senders", lambda: {"staff_email": smtp_down}
        )
        events = await handoff.ActionHandoffHuman().run(
            dispatcher, make_tracker("human", "human_handoff"), domain
        )
        assert dispatcher.messages[0]["response"] == "utter_handoff_open" and events
        await pending_deliveries()
        assert store.sent == []
        later = datetime_in(hours=2)
        counts = deliver_due(store, {"staff_email": store.sent.append}, now=later)
        assert counts == {"sent": 1, "failed": 0} and len(store.sent) == 1

    async def test_the_same_handoff_run_twice_emails_once(
        self, dispatcher, domain, monkeypatch, store
    ):
        from actions import handoff
        from actions.delivery import pending_deliveries

        monkeypatch.setattr(handoff, "now", lambda: self.at(10))
        tracker = make_tracker("human", "human_handoff")
        for _ in range(2):
            await handoff.ActionHandoffHuman().run(dispatcher, tracker, domain)
        await pending_deliveries()
        assert len(store.sent) == 1

    async def test_closed_gives_hours_and_phone(self, dispatcher, domain, monkeypatch):
        from actions import handoff

        monkeypatch.setattr(handoff, "now", lambda: self.at(10, day=29))
        events = await handoff.ActionHandoffHuman().run(
            dispatcher, make_tracker("human", "human_handoff"), domain
        )
        assert events == []
        [message] = dispatcher.messages
        assert message["response"] == "utter_handoff_closed"
        assert message["hours"].startswith("Mon 7 am") and message["phone"]

    async def test_no_database_gives_the_phone_and_does_not_pause(
        self, dispatcher, domain, monkeypatch
    ):
        from actions import handoff, services

        class Down:
            def queue_staff_message(self, *_args, **_kwargs):
                raise OSError("database down")

            ask = request = queue_staff_message

        monkeypatch.setattr(handoff, "now", lambda: self.at(10))
        monkeypatch.setattr(services, "booking_store", lambda: Down())
        monkeypatch.setattr(services, "handoff_queue", lambda: Down())
        events = await handoff.ActionHandoffHuman().run(
            dispatcher, make_tracker("human", "human_handoff"), domain
        )
        assert events == []
        assert dispatcher.messages[0]["response"] == "utter_handoff_failed"
