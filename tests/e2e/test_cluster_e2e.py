"""Two Rasa instances behind nginx, sharing PostgreSQL and Redis.

One conversation, booking form included, alternates between the instances;
concurrent messages for one sender are each answered exactly once, in order.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.booking.reference import looks_like_reference
from bot.booking.store import BookingStore
from tests.servers import MODEL, TOKEN, Cluster, fresh_postgres_database, say


@pytest.fixture(scope="module")
def database_url():
    return fresh_postgres_database("cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, database_url):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    # The burst below tests the lock shared by the instances; the flood
    # limit (429 beyond 5 at once) has its own tests in tests/security.
    servers = Cluster(
        tmp_path_factory.mktemp("cluster"),
        database_url,
        {"FLOOD_PER_CONVERSATION": "12"},
    )
    servers.start()
    yield servers.urls
    servers.stop()


def test_a_booking_alternating_between_instances(cluster, database_url):
    _, first, second = cluster
    user = f"cluster-{uuid.uuid4().hex[:8]}"
    steps = [
        ("does it hurt?", "cramp"),
        ("/book_appointment", "first name"),
        ("Priya", "phone number"),
        ("0412 345 678", "email"),
        ("skip", "When suits you"),
        ("any time", "What would you like help with"),
        ("sore neck", "Please check your request"),
        ("yes", "reference is"),
    ]
    for i, (message, expected) in enumerate(steps):
        reply = say(first if i % 2 == 0 else second, user, message)
        assert expected in reply[-1]["text"], (message, reply)
    reference = reply[-1]["text"].split("reference is ")[1].split(".")[0]
    assert looks_like_reference(reference)
    [row] = [
        b
        for b in BookingStore(database_url).list()
        if b.conversation_id == f"rest:{user}"
    ]
    assert (row.reference, row.concern) == (reference, "sore neck")


def test_concurrent_messages_for_one_sender(cluster):
    nginx, first, second = cluster
    user = f"burst-{uuid.uuid4().hex[:8]}"
    questions = ["/faq_aftercare" if i % 2 else "/faq_side_effects" for i in range(12)]
    targets = [(nginx, first, second)[i % 3] for i in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        jobs = [
            pool.submit(say, t, user, q)
            for t, q in zip(targets, questions, strict=True)
        ]
        replies = [job.result() for job in jobs]
    assert all(r and r[-1].get("text") for r in replies), replies
    tracker = requests.get(
        f"{nginx}/conversations/rest:{user}/tracker",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    ).json()
    events = tracker["events"]
    users = [e for e in events if e["event"] == "user"]
    assert len(users) == 12
    answers = [
        e
        for e in events
        if e["event"] == "bot"
        and ("gentle stretching" in e["text"] or "minor bruising" in e["text"])
    ]
    assert len(answers) == 12
    for i, event in enumerate(events):
        if event["event"] == "user":
            following = next(
                e for e in events[i + 1 :] if e["event"] in ("user", "bot")
            )
            assert following["event"] == "bot", "a message was left unanswered"
