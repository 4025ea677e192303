"""A person's data, deleted and exported: "forget me" from the chat (the
conversation goes at once, a request once the clinic has received it) and
staff acting on a privacy request in the console."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.booking.spool import Spool, drain
from bot.booking.store import BookingRequest, BookingStore, StaffMessage, utcnow
from bot.console.handoffs import HandoffQueue
from bot.notify.outbox import deliver_due
from bot.privacy import Conversations, delete_person, export_person, forget_in_bookings
from bot.tracker_store import SQLTrackerStore

CONVERSATION = "web:priya"


@pytest.fixture
def store(tmp_path):
    store = BookingStore(f"sqlite:///{tmp_path / 'clinic.db'}", ("email",))
    yield store
    store.engine.dispose()


@pytest.fixture
def queue(store):
    return HandoffQueue(store.url)


def request(conversation=CONVERSATION, phone="+61412345678", name="Priya"):
    return BookingRequest(
        first_name=name,
        phone=phone,
        email=f"{name.lower()}@example.com",
        conversation_id=conversation,
        concern="sore neck since my fall",
    )


def handoff_email(conversation=CONVERSATION) -> StaffMessage:
    return StaffMessage(
        subject=f"Chat handoff: {conversation}",
        body="Patient: sore neck since my fall",
        dedupe_key=f"handoff:{conversation}:m1",
    )


def everything(store) -> str:
    """Every row of every table, as text."""
    from sqlalchemy import inspect, text

    with store.engine.connect() as conn:
        return json.dumps(
            {
                table: [
                    list(map(str, row))
                    for row in conn.execute(text(f"SELECT * FROM {table}"))
                ]
                for table in inspect(conn).get_table_names()
            }
        )


def send_all(store, now=None) -> None:
    senders = {"email": lambda _: None, "staff_email": lambda _: None}
    deliver_due(store, senders, now=now)


def test_a_notified_request_is_deleted_at_once(store, queue):
    store.submit(request())
    store.queue_staff_message(handoff_email())
    queue.request(CONVERSATION, "socketio", "handoff:web:priya:m1")
    send_all(store)
    assert forget_in_bookings(store, queue, CONVERSATION) == {
        "deleted": 1,
        "after_notice": 0,
        "handoffs": 1,
    }
    dump = everything(store)
    for trace in ("Priya", "412345678", "priya@example.com", "sore neck", CONVERSATION):
        assert trace not in dump


def test_a_request_on_its_way_reaches_the_clinic_first(store, queue):
    store.submit(request())
    store.queue_staff_message(handoff_email())
    assert forget_in_bookings(store, queue, CONVERSATION)["after_notice"] == 1
    sent = []
    deliver_due(store, {"email": sent.append, "staff_email": sent.append})
    assert len(sent) == 2, "the clinic still gets the request and the handoff"
    assert "Priya" not in everything(store) and "sore neck" not in everything(store)


def test_a_request_that_keeps_failing_stays_until_it_goes(store, queue):
    store.submit(request())
    forget_in_bookings(store, queue, CONVERSATION)

    def down(_):
        raise OSError("mail down")

    deliver_due(store, {"email": down})
    assert store.find(email="PRIYA@example.com"), "not lost while mail is down"
    send_all(store, now=utcnow() + timedelta(hours=2))
    assert store.find(email="priya@example.com") == []


def test_other_conversations_are_left_alone(store, queue):
    store.submit(request())
    store.submit(request("web:tom", "+61400111222", "Tom"))
    store.queue_staff_message(handoff_email("web:tom"))
    send_all(store)
    forget_in_bookings(store, queue, CONVERSATION)
    assert [b.name for b in store.list()] == ["Tom"]
    assert "handoff:web:tom:m1" in everything(store)


def test_a_conversation_id_with_wildcards_matches_only_itself(store, queue):
    store.queue_staff_message(handoff_email("web:a_b"))
    store.queue_staff_message(handoff_email("web:axb"))
    send_all(store)
    forget_in_bookings(store, queue, "web:a_b")
    dump = everything(store)
    assert "handoff:web:axb:m1" in dump and "handoff:web:a_b:m1" not in dump


def test_a_request_still_in_the_spool_is_forgotten_too(store, queue, tmp_path):
    """Taken while the database was down, so still in the action server's
    spool: it must not arrive at the clinic after the forgetting and stay."""
    spool = Spool(tmp_path / "spool.db")
    spool.put(request(), "DN-AAAA")
    spool.put(request("web:tom", "+61400111222", "Tom"), "DN-BBBB")
    counts = forget_in_bookings(store, queue, CONVERSATION, spool)
    assert counts["after_notice"] == 1, "the clinic still receives it first"
    assert [r.first_name for _, _, r in spool.waiting()] == ["Tom"]
    sent = []
    deliver_due(store, {"email": sent.append})
    assert len(sent) == 1
    assert "Priya" not in everything(store) and "DN-AAAA" not in everything(store)
    assert drain(store, spool) == 1
    assert [b.name for b in store.list()] == ["Tom"]


def tracker(sender: str, *events) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender, list(events), slots=[])


async def test_the_turn_that_forgets_deletes_the_whole_conversation(tmp_path):
    db = str(tmp_path / "conversations.db")
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    earlier = utcnow() - timedelta(days=3)
    await store.save(
        tracker(
            CONVERSATION,
            SessionStarted(timestamp=earlier.timestamp()),
            UserUttered("my number is 0412 345 678", {"name": "inform"}),
        )
    )
    await store.save(tracker("web:tom", UserUttered("hello", {"name": "greet"})))
    current = await store.retrieve(CONVERSATION)
    current.update(SessionStarted())
    current.update(UserUttered("delete my data", {"name": "forget_me"}))
    current.update(ActionExecuted("action_forget_me"))
    current.update(BotUttered("Done. This conversation has been deleted."))
    current.update(SlotSet("forget_me", True))
    await store.save(current)

    conversations = Conversations(f"sqlite:///{db}")
    assert conversations.transcript(CONVERSATION) == []
    assert (
        await SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db).retrieve(
            CONVERSATION
        )
        is None
    )
    assert [m["text"] for m in conversations.transcript("web:tom")] == ["hello"]


async def test_a_turn_that_did_not_forget_is_saved(tmp_path):
    db = str(tmp_path / "conversations.db")
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    await store.save(
        tracker(
            CONVERSATION,
            UserUttered("delete my data", {"name": "forget_me"}),
            BotUttered("Sorry, I couldn't delete your details just now."),
        )
    )
    texts = [
        m["text"] for m in Conversations(f"sqlite:///{db}").transcript(CONVERSATION)
    ]
    assert texts == [
        "delete my data",
        "Sorry, I couldn't delete your details just now.",
    ]


async def test_staff_export_and_delete_one_person(tmp_path, store, queue):
    db = str(tmp_path / "conversations.db")
    trackers = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    await trackers.save(
        tracker(CONVERSATION, UserUttered("sore neck since my fall", {"name": "x"}))
    )
    await trackers.save(tracker("web:tom", UserUttered("hi", {"name": "greet"})))
    booking, _ = store.submit(request())
    store.add_note(booking.reference, "jo@clinic.example", "called, no answer")
    store.submit(request("web:tom", "+61400111222", "Tom"))
    queue.request(CONVERSATION, "socketio", "k1")
    conversations = Conversations(f"sqlite:///{db}")

    exported = export_person(store, conversations, "+61412345678", None)
    assert [r["name"] for r in exported["requests"]] == ["Priya"]
    assert exported["requests"][0]["notes"][0]["text"] == "called, no answer"
    assert exported["conversations"][CONVERSATION][0]["text"] == (
        "sore neck since my fall"
    )
    nobody = export_person(store, conversations, None, "nobody@example.com")
    assert (nobody["requests"], nobody["conversations"]) == ([], {})

    counts = delete_person(store, queue, conversations, None, "Priya@Example.com")
    assert counts == {"requests": 1, "conversations": 1, "events": 1, "handoffs": 1}
    assert [b.name for b in store.list()] == ["Tom"]
    assert conversations.transcript(CONVERSATION) == []
    assert conversations.transcript("web:tom")
    assert "called, no answer" not in everything(store)
