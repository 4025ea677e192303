"""Retention (APP 11.2): conversations and booking requests older than the
clinic's settings are deleted by a scheduled job, and nothing newer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import text

from bot.booking.records import BookingRequest
from bot.booking.store import BookingStore
from bot.privacy.retention import apply_retention
from bot.rasa.tracker_store import SQLTrackerStore
from bot.settings import load_settings

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "conversations.db"))
    monkeypatch.setenv("RETENTION_CONVERSATION_DAYS", "90")
    monkeypatch.setenv("RETENTION_BOOKING_DAYS", "730")
    return load_settings()


def conversation(sender: str, days_ago: float) -> DialogueStateTracker:
    at = (NOW - timedelta(days=days_ago)).timestamp()
    return DialogueStateTracker.from_events(
        sender,
        [
            ActionExecuted("action_listen", timestamp=at),
            UserUttered("does it hurt", {"name": "faq_does_it_hurt"}, timestamp=at),
        ],
    )


async def test_old_conversations_go_and_recent_ones_stay(settings):
    store = SQLTrackerStore(
        Domain.empty(), dialect="sqlite", db=str(settings.tracker_db)
    )
    await store.save(conversation("old", days_ago=91))
    await store.save(conversation("recent", days_ago=89))
    counts = apply_retention(settings, now=NOW)
    assert counts["conversations"] == 1
    fresh = SQLTrackerStore(
        Domain.empty(), dialect="sqlite", db=str(settings.tracker_db)
    )
    assert await fresh.retrieve("old") is None
    assert (await fresh.retrieve("recent")).events


def test_old_booking_requests_go_with_their_notes_and_notifications(settings):
    store = BookingStore.from_settings(settings)
    old, _ = store.submit(
        BookingRequest(first_name="Old", phone="+61400000001", conversation_id="a")
    )
    new, _ = store.submit(
        BookingRequest(first_name="New", phone="+61400000002", conversation_id="b")
    )
    store.add_note(old.reference, "desk@clinic.example", "called back")
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE booking_requests SET created_at = :at WHERE reference = :r"),
            {"at": NOW - timedelta(days=731), "r": old.reference},
        )
        conn.execute(
            text("UPDATE booking_requests SET created_at = :at WHERE reference = :r"),
            {"at": NOW - timedelta(days=729), "r": new.reference},
        )
    counts = apply_retention(settings, now=NOW)
    assert counts["booking_requests"] == 1
    assert [b.reference for b in store.list()] == [new.reference]
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM booking_notes")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM notifications")).scalar() == 1
    assert apply_retention(settings, now=NOW)["booking_requests"] == 0


def test_the_retention_settings_are_checked(monkeypatch):
    monkeypatch.setenv("RETENTION_CONVERSATION_DAYS", "0")
    with pytest.raises(SystemExit, match="RETENTION_CONVERSATION_DAYS"):
        load_settings()
    monkeypatch.setenv("RETENTION_CONVERSATION_DAYS", "90")
    monkeypatch.setenv("RETENTION_BOOKING_DAYS", "soon")
    with pytest.raises(SystemExit, match="RETENTION_BOOKING_DAYS"):
        load_settings()


def test_old_handoffs_and_sent_staff_emails_go_with_the_conversations(settings):
    from bot.booking.records import StaffMessage
    from bot.handoff.queue import HandoffQueue
    from bot.notify.outbox import deliver_due

    store = BookingStore.from_settings(settings)
    queue = HandoffQueue(settings.database_url)
    queue.request("web:old", "socketio", "k1", now=NOW - timedelta(days=91))
    queue.request("web:new", "socketio", "k2", now=NOW - timedelta(days=1))
    store.queue_staff_message(StaffMessage("old", "Patient: hello", "handoff:a:1"))
    deliver_due(store, {"staff_email": lambda _: None})
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE notifications SET sent_at = :at"),
            {"at": NOW - timedelta(days=91)},
        )
    store.queue_staff_message(StaffMessage("unsent", "Patient: hi", "handoff:b:1"))

    counts = apply_retention(settings, now=NOW)

    assert counts["handoffs_and_staff_emails"] == 2
    assert [h.conversation_id for h in queue.open()] == ["web:new"]
    with store.engine.connect() as conn:
        left = conn.execute(text("SELECT subject FROM notifications")).scalars().all()
    assert left == ["unsent"], "an email not yet sent is never deleted"
