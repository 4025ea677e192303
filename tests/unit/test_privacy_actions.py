"""action_forget_me: what the patient is told, and the slot on which the
tracker store deletes the conversation; nothing is claimed when the
deletion failed."""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions import services
from actions.privacy import ActionForgetMe
from bot.booking.store import BookingRequest
from bot.notify.outbox import deliver_due
from tests.conftest import make_tracker


def priya(conversation: str = "test-user") -> BookingRequest:
    return BookingRequest(
        first_name="Priya", phone="+61412345678", conversation_id=conversation
    )


async def test_forgotten_with_nothing_left(dispatcher, domain, store):
    store.submit(priya())
    deliver_due(store, {"email": lambda _: None})
    events = await ActionForgetMe().run(
        dispatcher, make_tracker("yes", "affirm"), domain
    )
    assert events == [SlotSet("forget_me", True)]
    assert dispatcher.messages[0]["response"] == "utter_forgotten"
    assert store.list() == []


async def test_a_request_on_its_way_is_said_to_be_deleted_once_received(
    dispatcher, domain, store
):
    store.submit(priya())
    store.submit(priya("someone-else"))
    events = await ActionForgetMe().run(
        dispatcher, make_tracker("yes", "affirm"), domain
    )
    assert events == [SlotSet("forget_me", True)]
    [message] = dispatcher.messages
    assert message["response"] == "utter_forgotten_after_notice"
    assert message["phone"] == services.clinic().phone
    assert len(store.list()) == 2, "the clinic still receives it first"


async def test_a_request_waiting_in_the_spool_is_not_left_behind(
    dispatcher, domain, store, private_booking_spool
):
    private_booking_spool.put(priya(), "DN-CCCC")
    events = await ActionForgetMe().run(
        dispatcher, make_tracker("yes", "affirm"), domain
    )
    assert events == [SlotSet("forget_me", True)]
    assert dispatcher.messages[0]["response"] == "utter_forgotten_after_notice"
    assert private_booking_spool.waiting() == []
    deliver_due(store, {"email": lambda _: None})
    assert store.list() == []


async def test_a_failed_deletion_is_not_claimed(dispatcher, domain, monkeypatch):
    class Down:
        def forget_conversation(self, _):
            raise OSError("database down")

    monkeypatch.setattr(services, "booking_store", lambda: Down())
    events = await ActionForgetMe().run(
        dispatcher, make_tracker("yes", "affirm"), domain
    )
    assert events == []
    assert dispatcher.messages[0]["response"] == "utter_forget_failed"
