"""The live handoff queue on SQLite and PostgreSQL: one open request per
conversation, one taker, and an overdue request claimed by one instance."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from bot.db import utcnow
from bot.handoff.queue import (
    ACTIVE,
    MISSED,
    RETURNED,
    WAITING,
    HandoffError,
    HandoffQueue,
)


@pytest.fixture
def queue(any_database):
    queue = HandoffQueue(any_database)
    yield queue
    queue.engine.dispose()


def test_asking_twice_is_one_request(queue):
    first = queue.request("web:a", "socketio", "handoff:web:a:1")
    again = queue.request("web:a", "socketio", "handoff:web:a:2")
    retried = queue.request("web:a", "socketio", "handoff:web:a:1")
    assert first.id == again.id == retried.id and first.status == WAITING
    assert [h.conversation_id for h in queue.open()] == ["web:a"]


def test_a_conversation_can_ask_again_after_its_handoff_ended(queue):
    first = queue.request("web:a", "socketio", "k1")
    queue.hand_back(first.id)
    second = queue.request("web:a", "socketio", "k2")
    assert second.id != first.id and second.status == WAITING


def test_longest_waiting_first(queue):
    now = utcnow()
    queue.request("web:new", "socketio", "k1", now=now)
    queue.request("web:old", "socketio", "k2", now=now - timedelta(minutes=2))
    assert [h.conversation_id for h in queue.open()] == ["web:old", "web:new"]


def test_of_two_staff_taking_at_once_one_gets_it(any_database):
    queues = [HandoffQueue(any_database) for _ in range(6)]
    h = queues[0].request("telegram:1", "telegram", "k1")

    def take(i):
        try:
            return queues[i].take(h.id, f"s{i}@clinic.example", f"S{i}").staff_name
        except HandoffError as error:
            return str(error)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(take, range(6)))
    winners = [r for r in results if not r.startswith("already")]
    assert len(winners) == 1
    assert all(
        r == f"already taken by {winners[0]}" for r in results if r not in winners
    )
    taken = queues[0].get(h.id)
    assert taken.status == ACTIVE and taken.staff_name == winners[0]
    assert taken.waited() == taken.taken_at - taken.requested_at
    for q in queues:
        q.engine.dispose()


def test_handing_back_ends_it_once(queue):
    h = queue.request("web:a", "socketio", "k1")
    queue.take(h.id, "jo@clinic.example", "Jo")
    assert queue.hand_back(h.id).status == RETURNED
    with pytest.raises(HandoffError, match="already returned"):
        queue.hand_back(h.id)
    with pytest.raises(HandoffError):
        queue.take(h.id, "sam@clinic.example", "Sam")
    assert queue.open() == []


def test_overdue_requests_are_claimed_by_one_instance(any_database):
    a, b = HandoffQueue(any_database), HandoffQueue(any_database)
    now = utcnow()
    old = a.request("web:old", "socketio", "k1", now=now - timedelta(minutes=5))
    a.request("web:new", "socketio", "k2", now=now - timedelta(seconds=30))
    taken = a.request("web:taken", "socketio", "k3", now=now - timedelta(minutes=9))
    a.take(taken.id, "jo@clinic.example", "Jo")

    with ThreadPoolExecutor(2) as pool:
        claims = list(pool.map(lambda q: q.claim_overdue(timedelta(minutes=3)), (a, b)))

    assert sorted(len(c) for c in claims) == [0, 1]
    assert [h.id for c in claims for h in c] == [old.id]
    assert a.get(old.id).status == MISSED
    a.unclaim(old.id)
    assert a.get(old.id).status == WAITING
    for q in (a, b):
        q.engine.dispose()


def test_forgetting_a_conversation_deletes_its_handoffs(queue):
    queue.request("web:a", "socketio", "k1")
    queue.request("web:b", "socketio", "k2")
    assert queue.forget(["web:a"]) == 1
    assert [h.conversation_id for h in queue.open()] == ["web:b"]
    with pytest.raises(KeyError):
        queue.get(999)
