"""action_forget_me: what the patient is told, and the slot on which the
tracker store deletes the conversation; nothing is claimed when the
deletion failed."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.privacy import ActionForgetMe
from bot.booking.records import BookingRequest
from bot.notify.outbox import deliver_due
from tests.conftest import make_tracker, user_event

# A Tuesday morning: the clinic is open, so a handoff emails staff.
OPEN_HOURS = datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Australia/Brisbane"))


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


async def test_forgetting_while_mail_is_down_strips_the_queued_handoff_email(
    dispatcher, domain, store, monkeypatch
):
    """The patient asked for a person, gave their details, then asked to be
    forgotten while the mail server was down: what waits in the outbox must
    hold none of it, and the clinic still hears the chat was withdrawn."""
    from actions import handoff
    from actions.delivery import pending_deliveries

    def mail_down(_message):
        raise OSError("smtp down")

    monkeypatch.setattr(handoff, "now", lambda: OPEN_HOURS)
    monkeypatch.setattr(
        services, "notification_senders", lambda: {"staff_email": mail_down}
    )
    said = [user_event("I'm Zara Quinn, 0412 987 654, zara.q@example.com", "inform")]
    await handoff.ActionHandoffHuman().run(
        dispatcher,
        make_tracker("can I talk to a person", "human_handoff", history=said),
        domain,
    )
    await pending_deliveries()
    events = await ActionForgetMe().run(
        CollectingDispatcher(), make_tracker("yes", "affirm"), domain
    )
    assert events == [SlotSet("forget_me", True)]
    queued = outbox(store)
    assert queued and all("withdrawn" in subject for subject, _ in queued)
    for trace in ("Zara", "987 654", "zara.q@example.com", "test-user"):
        assert trace not in json.dumps(queued)
    assert store.handoffs.open() == [], "the live chat is gone"


def outbox(store) -> list[tuple[str, str]]:
    """(subject, body) of every message to staff still in the outbox."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT subject, body FROM notifications "
                    "WHERE booking_id IS NULL"
                )
            )
        ]
