"""A person's data, deleted and exported: "forget me" from the chat (the
conversation goes at once, a request once the clinic has received it) and
staff acting on a privacy request in the console."""

from __future__ import annotations

import dataclasses
import hashlib
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

from bot.booking.records import BookingRequest, StaffMessage
from bot.booking.spool import Spool, drain
from bot.booking.store import BookingStore
from bot.conversation_ids import handle
from bot.conversations import Conversations
from bot.db import utcnow
from bot.handoff.queue import HandoffQueue
from bot.notify.outbox import deliver_due
from bot.privacy.requests import (
    delete_person,
    export_person,
    find_person,
    forget_in_bookings,
)
from bot.rasa.tracker_store import SQLTrackerStore

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
    assert exported["conversations"][handle(CONVERSATION)][0]["text"] == (
        "sore neck since my fall"
    )
    nobody = export_person(store, conversations, None, "nobody@example.com")
    assert (nobody["requests"], nobody["conversations"]) == ([], {})

    counts = delete_person(store, queue, conversations, None, "Priya@Example.com")
    assert counts == {
        "requests": 1,
        "conversations": 1,
        "events": 1,
        "handoffs": 1,
        "staff_messages": 0,
    }
    assert [b.name for b in store.list()] == ["Tom"]
    assert conversations.transcript(CONVERSATION) == []
    assert conversations.transcript("web:tom")
    assert "called, no answer" not in everything(store)


def staff_email(conversation: str, said: str, hashed: bool) -> StaffMessage:
    """A handoff email with the transcript in it (as queued before emails
    lost it), keyed as actions/handoff.py keys it: the id hashed, or the id
    itself in keys queued earlier."""
    digest = hashlib.sha256(conversation.encode("utf8")).hexdigest()
    return StaffMessage(
        subject=f"Chat handoff: {conversation}",
        body=f"Patient: {said}",
        dedupe_key=f"handoff:{digest if hashed else conversation}:m7",
    )


@pytest.mark.parametrize("hashed", [True, False])
def test_a_queued_handoff_email_loses_the_patients_words_at_once(store, queue, hashed):
    """Mail down, patient forgotten: the queued email must not keep their
    words, number and email until the mail server is back."""
    from sqlalchemy import text

    priya = "I'm Priya, 0412 345 678, priya@example.com, sore neck"
    store.queue_staff_message(staff_email(CONVERSATION, priya, hashed))
    store.queue_staff_message(staff_email("web:tom", "Tom, calf cramps", hashed))
    forget_in_bookings(store, queue, CONVERSATION)
    with store.engine.connect() as conn:
        queued = json.dumps(
            [
                list(row)
                for row in conn.execute(text("SELECT subject, body FROM notifications"))
            ]
        )
    for trace in ("Priya", "345 678", "priya@example.com", "sore neck", CONVERSATION):
        assert trace not in queued
    assert "Tom, calf cramps" in queued, "another patient's email is left alone"
    sent = []
    deliver_due(store, {"staff_email": sent.append})
    assert sorted(m.subject for m in sent) == [
        "Chat handoff withdrawn",
        "Chat handoff: web:tom",
    ], "the clinic is still told, with nothing of the patient"
    assert "withdrawn" not in everything(store), "deleted once delivered"


def with_email(booking: BookingRequest, email: str) -> BookingRequest:
    return dataclasses.replace(booking, email=email)


def test_phone_or_email_finds_every_request_of_either(store, queue, tmp_path):
    """Priya booked once with her mobile and her work email, once with her
    mobile and a home email, and once from a landline with the work email:
    a search by mobile and home email must find all three, not only the
    one that has both."""
    work, home = "priya@work.example", "Priya.K@Home.Example"
    store.submit(with_email(request("web:1", "+61412345678", "Priya"), work))
    store.submit(with_email(request("web:2", "+61412345678", "Priya"), home))
    store.submit(with_email(request("web:3", "+61733334444", "Priya"), work))
    store.submit(request("web:tom", "+61400111222", "Tom"))
    conversations = Conversations(f"sqlite:///{tmp_path / 'none.db'}")

    both = find_person(store, conversations, "+61412345678", "priya@work.example")
    assert sorted(b.conversation_id for b in both.requests) == [
        "web:1",
        "web:2",
        "web:3",
    ]
    assert [b.conversation_id for b in store.find("0412 345 678", None)] == [
        "web:1",
        "web:2",
    ]
    assert [b.conversation_id for b in store.find(None, "priya.k@HOME.example")] == [
        "web:2"
    ]
    counts = delete_person(
        store, queue, conversations, "+61733334444", "priya.k@home.example"
    )
    assert counts["requests"] == 2
    assert [b.conversation_id for b in store.list()] == ["web:1", "web:tom"]


async def test_a_conversation_that_only_holds_the_number_is_found(
    tmp_path, store, queue
):
    """A patient who gave their number, or typed it, and never booked: the
    conversation still holds it, so a privacy request must find and delete
    it."""
    db = str(tmp_path / "conversations.db")
    trackers = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    await trackers.save(
        tracker(
            "web:slot",
            UserUttered("0412345678", {"name": "inform"}),
            SlotSet("phone", "+61412345678"),
        )
    )
    await trackers.save(
        tracker("web:typed", UserUttered("ring me on (04) 1234-5678 please"))
    )
    await trackers.save(
        tracker("web:mail", UserUttered("it's Priya@Example.com if that helps"))
    )
    await trackers.save(
        tracker("web:other", UserUttered("call 0412 345 679"), SlotSet("phone", "x"))
    )
    conversations = Conversations(f"sqlite:///{db}")

    by_phone = find_person(store, conversations, "+61412345678", None)
    assert sorted(by_phone.conversations) == ["web:slot", "web:typed"]
    either = find_person(store, conversations, "+61412345678", "priya@example.com")
    assert sorted(either.conversations) == ["web:mail", "web:slot", "web:typed"]

    counts = delete_person(
        store, queue, conversations, "+61412345678", "priya@example.com"
    )
    assert (counts["requests"], counts["conversations"]) == (0, 3)
    assert conversations.transcript("web:typed") == []
    assert conversations.transcript("web:other")


def test_the_counts_are_what_was_deleted(store, queue, tmp_path):
    """Deleting twice reports nothing the second time: the numbers come
    from the database, not from what was asked."""
    store.submit(request())
    conversations = Conversations(f"sqlite:///{tmp_path / 'none.db'}")
    first = delete_person(store, queue, conversations, "+61412345678", None)
    again = delete_person(store, queue, conversations, "+61412345678", None)
    assert first["requests"] == 1
    assert again == {
        "requests": 0,
        "conversations": 0,
        "events": 0,
        "handoffs": 0,
        "staff_messages": 0,
    }


def test_a_deletion_confirmed_on_an_older_list_deletes_nothing(store, queue, tmp_path):
    """Staff confirmed what the page listed; a request that arrived since
    was not on it, so nothing is deleted until they look again."""
    store.submit(request())
    conversations = Conversations(f"sqlite:///{tmp_path / 'none.db'}")
    seen = find_person(store, conversations, "+61412345678", None).fingerprint()
    store.submit(request("web:later"))
    assert (
        delete_person(store, queue, conversations, "+61412345678", None, seen) is None
    )
    assert len(store.list()) == 2
    fresh = find_person(store, conversations, "+61412345678", None).fingerprint()
    counts = delete_person(store, queue, conversations, "+61412345678", None, fresh)
    assert counts["requests"] == 2 and store.list() == []


def test_an_export_names_conversations_by_handle_only(store, tmp_path):
    """The export is handed to the patient or their representative: the
    widget's id in it would open the chat to whoever reads it."""
    secret = "web:AbCdEfGhIjKlMnOpQrStUvWx.0123456789abcdefghijkl"
    store.submit(request(secret))
    conversations = Conversations(f"sqlite:///{tmp_path / 'none.db'}")
    exported = export_person(store, conversations, "+61412345678", None)
    text = json.dumps(exported)
    assert secret not in text and "AbCdEfGh" not in text
    assert exported["requests"][0]["conversation"] == handle(secret)
    assert list(exported["conversations"]) == [handle(secret)]
