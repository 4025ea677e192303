"""The booking form's validators and the submit/cancel actions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet

from actions import booking, services
from actions.booking import (
    ActionAskBookingConfirmed,
    ActionCancelBooking,
    ActionSubmitBooking,
    ValidateBookingForm,
)
from actions.delivery import pending_deliveries
from actions.replies import requested_change
from bot.booking.spool import Spool
from bot.booking.store import BookingStore
from bot.nlp.details import clean_name
from tests.conftest import make_tracker

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=ZoneInfo("Australia/Brisbane"))
FORM = ValidateBookingForm()


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(booking, "now", lambda: NOW)


def form_tracker(text="x", intent="inform", slots=None):
    return make_tracker(text, intent, slots=slots or {})


def responses(dispatcher):
    return [m.get("response") for m in dispatcher.messages]


@pytest.mark.parametrize(
    "text, name",
    [("Sarah", "Sarah"), ("it's tom", "Tom"), ("my name is Priya", "Priya"),
     ("Mary-Jane", "Mary-Jane"), ("Nguyễn", "Nguyễn"), ("call me Jess!", "Jess")],
)  # fmt: skip
def test_names(text, name):
    assert clean_name(text) == name


@pytest.mark.parametrize(
    "text", ["", "0412345678", "yes", "<b>bob</b>", "a" * 41, "'; drop table x;--"]
)
def test_not_names(text):
    assert clean_name(text) is None


async def test_validate_first_name(dispatcher, domain):
    result = await FORM.validate_first_name(
        "i'm sam", dispatcher, form_tracker(), domain
    )
    assert result == {"first_name": "Sam"}


async def test_bad_answer_gets_a_specific_reask(dispatcher, domain):
    result = await FORM.validate_phone("12345", dispatcher, form_tracker(), domain)
    assert result == {"phone": None, "form_failures": {"phone": 1}}
    assert responses(dispatcher) == ["utter_invalid_phone"]


async def test_second_failure_offers_a_way_out(dispatcher, domain):
    tracker = form_tracker(slots={"form_failures": {"phone": 1}})
    result = await FORM.validate_phone("nope", dispatcher, tracker, domain)
    assert result["phone"] is None
    assert responses(dispatcher) == ["utter_invalid_phone", "utter_form_trouble"]
    assert dispatcher.messages[1]["phone"]


async def test_phone_is_normalised(dispatcher, domain):
    result = await FORM.validate_phone(
        "(07) 3123 4567", dispatcher, form_tracker(), domain
    )
    assert result == {"phone": "+61731234567"}


@pytest.mark.parametrize(
    "text, value",
    [("skip", "none"), ("no email", "none"), ("Jo@Mail.Example", "Jo@mail.example")],
)
async def test_email_optional(dispatcher, domain, text, value):
    assert await FORM.validate_email(text, dispatcher, form_tracker(), domain) == {
        "email": value
    }


async def test_bad_email(dispatcher, domain):
    result = await FORM.validate_email("jo@", dispatcher, form_tracker(), domain)
    assert result["email"] is None
    assert responses(dispatcher) == ["utter_invalid_email"]


async def test_time_is_echoed_as_a_window(dispatcher, domain):
    result = await FORM.validate_preferred_time(
        "next Tuesday after 3", dispatcher, form_tracker(), domain
    )
    assert result == {
        "preferred_time": "next Tuesday after 3",
        "preferred_start": "2026-12-01T15:00:00+10:00",
        "preferred_end": "2026-12-01T19:00:00+10:00",
        "preferred_label": "Tue 1 Dec, after 3 pm",
    }
    assert dispatcher.messages[0]["label"] == "Tue 1 Dec, after 3 pm"


@pytest.mark.parametrize(
    "text, response",
    [
        ("sunday", "utter_time_closed"),
        ("yesterday", "utter_time_past"),
        ("purple", "utter_time_unclear"),
    ],
)
async def test_unusable_times_are_asked_again(dispatcher, domain, text, response):
    result = await FORM.validate_preferred_time(
        text, dispatcher, form_tracker(), domain
    )
    assert result["preferred_time"] is None and result["preferred_label"] is None
    assert responses(dispatcher) == [response]


async def test_concern_reuses_an_earlier_condition(dispatcher, domain):
    tracker = form_tracker(slots={"condition": "sciatica"})
    assert await FORM.extract_concern(dispatcher, tracker, domain) == {
        "concern": "sciatica"
    }
    tracker = form_tracker(slots={"condition": "sciatica", "concern": "neck"})
    assert await FORM.extract_concern(dispatcher, tracker, domain) == {}


async def test_validate_concern(dispatcher, domain):
    assert await FORM.validate_concern(
        "  sore   neck ", dispatcher, form_tracker(), domain
    ) == {"concern": "sore neck"}
    result = await FORM.validate_concern("??", dispatcher, form_tracker(), domain)
    assert result["concern"] is None


@pytest.mark.parametrize(
    "text, intent, expected",
    [
        ("yes", "affirm", {"booking_confirmed": True}),
        ("/affirm", "affirm", {"booking_confirmed": True}),
        ("no", "deny", {"booking_confirmed": False}),
        ("change my number", "change_detail",
         {"phone": None, "booking_confirmed": None}),
        ("actually the time is wrong", "change_detail",
         {"preferred_time": None, "booking_confirmed": None, "preferred_start": None,
          "preferred_end": None, "preferred_label": None}),
    ],
)  # fmt: skip
async def test_confirmation(dispatcher, domain, text, intent, expected):
    tracker = form_tracker(text, intent)
    assert (
        await FORM.validate_booking_confirmed(text, dispatcher, tracker, domain)
        == expected
    )


def test_requested_change():
    assert requested_change("can i change my email") == "email"
    assert requested_change("wrong name") == "first_name"
    assert requested_change("my number") is None


async def test_summary_reads_back_the_answers(dispatcher, domain):
    tracker = form_tracker(
        slots={"first_name": "Priya", "phone": "+61412345678", "email": "none",
               "preferred_label": "Wed 25 Nov, afternoon", "concern": "sore back"}
    )  # fmt: skip
    await ActionAskBookingConfirmed().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_confirm_booking"
    assert (message["phone"], message["email"]) == ("0412 345 678", "(none)")


def confirmed_slots(**overrides):
    slots = {
        "first_name": "Priya",
        "phone": "+61412345678",
        "email": "none",
        "preferred_time": "tomorrow arvo",
        "preferred_start": "2026-11-25T12:00:00+10:00",
        "preferred_end": "2026-11-25T17:00:00+10:00",
        "preferred_label": "Wed 25 Nov, afternoon",
        "concern": "sore lower back",
        "booking_confirmed": True,
    }
    slots.update(overrides)
    return slots


async def test_submit_stores_once_and_notifies(dispatcher, domain, store):
    tracker = form_tracker(slots=confirmed_slots())
    events = await ActionSubmitBooking().run(dispatcher, tracker, domain)
    [row] = store.list()
    assert (row.name, row.email, row.consent) == ("Priya", None, True)
    assert row.preferred_time["start"] == "2026-11-25T02:00:00+00:00"
    assert SlotSet("booking_reference", row.reference) in events
    assert dispatcher.messages[-1]["reference"] == row.reference
    assert store.sent == []  # delivered in the background, not before replying
    await pending_deliveries()
    assert [b.reference for b in store.sent] == [row.reference]
    retried = await ActionSubmitBooking().run(dispatcher, tracker, domain)
    assert (
        len(store.list()) == 1
        and SlotSet("booking_reference", row.reference) in retried
    )


async def test_submit_without_yes_stores_nothing(dispatcher, domain, store):
    tracker = form_tracker(slots=confirmed_slots(booking_confirmed=False))
    await ActionSubmitBooking().run(dispatcher, tracker, domain)
    assert store.list() == []
    assert responses(dispatcher) == ["utter_booking_not_stored"]


async def test_failed_mail_still_gives_the_reference(
    dispatcher, domain, store, monkeypatch
):
    def broken(_):
        raise OSError("smtp down")

    monkeypatch.setattr(services, "notification_senders", lambda: {"email": broken})
    await ActionSubmitBooking().run(
        dispatcher, form_tracker(slots=confirmed_slots()), domain
    )
    [row] = store.list()
    assert dispatcher.messages[-1]["reference"] == row.reference
    await pending_deliveries()
    assert store.notification_status(row.reference) == {"email": "pending"}


async def test_database_down_queues_the_request_durably(
    dispatcher, domain, monkeypatch, tmp_path
):
    down = BookingStore("postgresql://nobody@127.0.0.1:1/x")
    spool = Spool(tmp_path / "spool.db")
    monkeypatch.setattr(services, "booking_store", lambda: down)
    monkeypatch.setattr(services, "booking_spool", lambda: spool)
    events = await ActionSubmitBooking().run(
        dispatcher, form_tracker(slots=confirmed_slots()), domain
    )
    [(_, reference, request)] = spool.waiting()
    assert request.first_name == "Priya" and request.concern == "sore lower back"
    assert dispatcher.messages[-1]["response"] == "utter_booking_stored"
    assert dispatcher.messages[-1]["reference"] == reference
    assert SlotSet("booking_reference", reference) in events


async def test_database_and_queue_down_tells_the_user_plainly(
    dispatcher, domain, monkeypatch, tmp_path
):
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(
        services,
        "booking_store",
        lambda: BookingStore("postgresql://nobody@127.0.0.1:1/x"),
    )
    monkeypatch.setattr(
        services, "booking_spool", lambda: Spool(tmp_path / "file" / "spool.db")
    )
    events = await ActionSubmitBooking().run(
        dispatcher, form_tracker(slots=confirmed_slots()), domain
    )
    assert responses(dispatcher) == ["utter_booking_failed"]
    assert events == [SlotSet("booking_confirmed", None)]


async def test_cancel_ends_the_form(dispatcher, domain):
    events = await ActionCancelBooking().run(dispatcher, form_tracker(), domain)
    assert events[0] == ActiveLoop(None)
    assert SlotSet("booking_confirmed", None) in events
    assert responses(dispatcher) == ["utter_booking_cancelled"]


@pytest.mark.parametrize(
    "forged",
    [
        {"first_name": '=HYPERLINK("http://evil","x")'},
        {"first_name": None},
        {"phone": "0412\x00345678"},
        {"phone": "12345"},
        {"email": "a@b.com\r\nBcc: x@y.z"},
        {"concern": ""},
        {"concern": ["not", "text"]},
        {"preferred_start": "yesterday"},
        {"preferred_end": "2026-11-25T11:00:00+10:00"},
        {"preferred_label": None},
        {"booking_confirmed": "yes"},
    ],
)
async def test_a_forged_tracker_is_not_stored(dispatcher, domain, store, forged):
    """The submit action checks every slot again: a tracker posted straight
    to the action server is not trusted."""
    tracker = form_tracker(slots=confirmed_slots(**forged))
    events = await ActionSubmitBooking().run(dispatcher, tracker, domain)
    assert store.list() == []
    assert responses(dispatcher)[-1] in (
        "utter_booking_unchecked",
        "utter_booking_not_stored",
    )
    assert not any(e.get("name") == "booking_reference" for e in events)


def turn_tracker(text, intent, entities, extracted, slots):
    """The tracker the form's validation gets: ``extracted`` are the slots
    Rasa's mappings took from this message (the trailing slot events)."""
    tracker = make_tracker(
        text, intent, entities=entities, slots={**slots, **extracted}
    )
    tracker.events += [
        {"event": "slot", "name": k, "value": v} for k, v in extracted.items()
    ]
    tracker.active_loop = {"name": "booking_form"}
    return tracker


def detail(entity, value, text, phrase):
    start = text.lower().index(phrase.lower())
    return {
        "entity": entity,
        "value": value,
        "start": start,
        "end": start + len(phrase),
    }


ANSWERED = {
    "first_name": "Margaret", "phone": "+61423987654", "email": "none",
    "preferred_time": "wednesday arvo",
    "preferred_start": "2026-12-02T13:00:00+10:00",
    "preferred_end": "2026-12-02T17:00:00+10:00",
    "preferred_label": "Wed 2 Dec, afternoon",
}  # fmt: skip


def slot_sets(events):
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_a_new_time_when_asked_for_the_concern_is_not_the_concern(
    dispatcher, domain
):
    text = "actually make that thursday morning"
    tracker = turn_tracker(
        text, "inform",
        [detail("time_phrase", "thursday morning", text, "thursday morning")],
        {"preferred_time": "thursday morning", "concern": text},
        {**ANSWERED, "requested_slot": "concern"},
    )  # fmt: skip
    slots = slot_sets(await FORM.run(dispatcher, tracker, domain))
    assert slots["concern"] is None, "asked again, not 'actually make that...'"
    assert slots["preferred_label"].endswith("morning")
    assert responses(dispatcher) == ["utter_time_understood"]


@pytest.mark.parametrize(
    "text, phrase",
    [("sore neck, thursday morning is better", "thursday morning"),
     ("my knee. thursday morning", "thursday morning")],
)  # fmt: skip
async def test_a_concern_with_a_new_time_keeps_both(dispatcher, domain, text, phrase):
    tracker = turn_tracker(
        text, "inform", [detail("time_phrase", phrase, text, phrase)],
        {"preferred_time": phrase, "concern": text},
        {**ANSWERED, "requested_slot": "concern"},
    )  # fmt: skip
    slots = slot_sets(await FORM.run(dispatcher, tracker, domain))
    assert slots["concern"] == text


async def test_a_new_number_given_at_the_summary_is_taken(dispatcher, domain):
    text = "wait, can you change my phone number to 0423 987 655"
    tracker = turn_tracker(
        text, "change_detail",
        [detail("phone_number", "+61423987655", text, "0423 987 655")],
        {"phone": "+61423987655", "booking_confirmed": text},
        {**ANSWERED, "concern": "neck", "requested_slot": "booking_confirmed"},
    )  # fmt: skip
    slots = slot_sets(await FORM.run(dispatcher, tracker, domain))
    assert slots["phone"] == "+61423987655"
    assert slots["booking_confirmed"] is None, "the summary is shown again"
    assert responses(dispatcher) == ["utter_change_done"]


async def test_a_new_time_given_at_the_summary_is_taken(dispatcher, domain):
    """Even when the message is not classified as a detail (no mapping took
    it): its time phrase is checked and used."""
    text = "actually make it friday afternoon"
    tracker = turn_tracker(
        text, "greet",
        [detail("time_phrase", "friday afternoon", text, "friday afternoon")],
        {"booking_confirmed": text},
        {**ANSWERED, "concern": "neck", "requested_slot": "booking_confirmed"},
    )  # fmt: skip
    slots = slot_sets(await FORM.run(dispatcher, tracker, domain))
    assert slots["preferred_time"] == "friday afternoon"
    assert slots["preferred_label"].startswith("Fri")
    assert slots["booking_confirmed"] is None
    assert responses(dispatcher) == ["utter_time_understood"]


async def test_a_bad_new_number_at_the_summary_asks_for_the_number(dispatcher, domain):
    text = "change my number to 12345"
    tracker = turn_tracker(
        text, "change_detail", [], {"booking_confirmed": text},
        {**ANSWERED, "concern": "neck", "requested_slot": "booking_confirmed"},
    )  # fmt: skip
    slots = slot_sets(await FORM.run(dispatcher, tracker, domain))
    assert slots["phone"] is None and slots["booking_confirmed"] is None
    assert responses(dispatcher) == ["utter_change_ok"]


@pytest.mark.parametrize("text", ["yes", "ok yes book it", "sure"])
async def test_yes_to_the_email_question_asks_for_the_address(dispatcher, domain, text):
    result = await FORM.validate_email(text, dispatcher, form_tracker(text), domain)
    assert result == {"email": None}, "no failure counted"
    assert responses(dispatcher) == [], "not told the address looks wrong"
