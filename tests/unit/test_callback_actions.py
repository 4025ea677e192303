"""The callback request: same contact checks as booking, stored as kind=callback."""

from __future__ import annotations

from rasa_sdk.events import ActiveLoop, SlotSet

from actions import services
from actions.booking import ActionCancelBooking
from actions.callback import ActionSubmitCallbackForm, ValidateCallbackForm
from actions.delivery import pending_deliveries
from bot.booking.spool import Spool
from bot.booking.store import BookingStore
from tests.conftest import make_tracker

FORM = ValidateCallbackForm()


def responses(dispatcher):
    return [m.get("response") for m in dispatcher.messages]


def callback_tracker(text="x", **slots):
    tracker = make_tracker(text, "inform", slots=slots)
    tracker.active_loop = {"name": "callback_form"}
    return tracker


async def test_validates_name_and_phone_like_the_booking_form(dispatcher, domain):
    tracker = callback_tracker()
    assert await FORM.validate_first_name("it's mia", dispatcher, tracker, domain) == {
        "first_name": "Mia"
    }
    assert await FORM.validate_phone("0412-345-678", dispatcher, tracker, domain) == {
        "phone": "+61412345678"
    }
    result = await FORM.validate_phone("call me", dispatcher, tracker, domain)
    assert result["phone"] is None
    assert responses(dispatcher) == ["utter_invalid_phone"]


async def test_the_form_asks_only_name_and_phone(domain):
    assert domain["forms"]["callback_form"]["required_slots"] == ["first_name", "phone"]


async def test_submit_stores_a_callback_and_notifies(dispatcher, domain, store):
    tracker = callback_tracker(first_name="Mia", phone="+61412345678")
    events = await ActionSubmitCallbackForm().run(dispatcher, tracker, domain)
    [row] = store.list()
    assert (row.kind, row.name, row.phone, row.consent) == (
        "callback",
        "Mia",
        "+61412345678",
        True,
    )
    assert row.preferred_time == {
        "text": None,
        "start": None,
        "end": None,
        "label": None,
    }
    assert SlotSet("booking_reference", row.reference) in events
    message = dispatcher.messages[-1]
    assert message["response"] == "utter_callback_stored"
    assert (message["reference"], message["phone"]) == (row.reference, "0412 345 678")
    assert store.sent == []  # delivered in the background, not before replying
    await pending_deliveries()
    assert [b.reference for b in store.sent] == [row.reference]
    await ActionSubmitCallbackForm().run(dispatcher, tracker, domain)
    assert len(store.list()) == 1


async def test_submit_with_the_database_down_is_queued(
    dispatcher, domain, monkeypatch, tmp_path
):
    spool = Spool(tmp_path / "spool.db")
    monkeypatch.setattr(
        services,
        "booking_store",
        lambda: BookingStore("postgresql://nobody@127.0.0.1:1/x"),
    )
    monkeypatch.setattr(services, "booking_spool", lambda: spool)
    tracker = callback_tracker(first_name="Mia", phone="+61412345678")
    await ActionSubmitCallbackForm().run(dispatcher, tracker, domain)
    [(_, reference, request)] = spool.waiting()
    assert request.kind == "callback"
    assert dispatcher.messages[-1]["reference"] == reference


async def test_stop_during_the_callback_form(dispatcher, domain):
    events = await ActionCancelBooking().run(dispatcher, callback_tracker(), domain)
    assert events[0] == ActiveLoop(None)
    assert responses(dispatcher) == ["utter_callback_cancelled"]
