"""One person's data, found, exported and deleted (Australian Privacy
Principles 11.2 and 12): by the patient in the chat ("forget me") and by
staff in the console.

A conversation lives in Rasa's tracker store (its events, one row each); what
it left in the bookings database are booking and callback requests, their
notes and notifications, messages to staff about it, and its handoffs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import create_engine, inspect, text

from bot.booking.spool import Spool, drain
from bot.booking.store import BookingStore
from bot.console.handoffs import HandoffQueue
from bot.retention import tracker_database_url
from bot.settings import Settings


def forget_in_bookings(
    store: BookingStore,
    queue: HandoffQueue,
    conversation_id: str,
    spool: Spool | None = None,
) -> dict[str, int]:
    """The patient's own request, from the chat: everything the conversation
    left in the bookings database (a request still on its way to the clinic
    once it has arrived). A request of this conversation still in the
    action server's spool (taken while the database was down) moves in
    first, so it is forgotten too instead of arriving afterwards. The
    conversation itself is deleted by the tracker store when it saves the
    turn (bot/tracker_store.py)."""
    if spool is not None:
        drain(store, spool, conversation_id)
    counts = store.forget_conversation(conversation_id)
    counts["handoffs"] = queue.forget([conversation_id])
    return counts


@dataclass
class Conversations:
    """Read and delete conversations in Rasa's tracker store."""

    url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Conversations:
        return cls(tracker_database_url(settings))

    def _engine(self):
        return create_engine(self.url, future=True)

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        """What the patient and the clinic's side said, oldest first."""
        engine = self._engine()
        try:
            if "events" not in inspect(engine).get_table_names():
                return []
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT data FROM events WHERE sender_id = :sender "
                        "AND type_name IN ('user', 'bot') ORDER BY id"
                    ),
                    {"sender": conversation_id},
                ).all()
        finally:
            engine.dispose()
        out = []
        for (data,) in rows:
            event = json.loads(data)
            if not event.get("text"):
                continue
            staff = (event.get("metadata") or {}).get("staff")
            out.append(
                {
                    "at": datetime.fromtimestamp(
                        event.get("timestamp") or 0, timezone.utc
                    ).isoformat(),
                    "from": "patient"
                    if event["event"] == "user"
                    else (f"staff ({staff})" if staff else "assistant"),
                    "text": event["text"],
                }
            )
        return out

    def delete(self, conversation_ids: list[str]) -> int:
        engine = self._engine()
        try:
            if "events" not in inspect(engine).get_table_names():
                return 0
            with engine.begin() as conn:
                return sum(
                    conn.execute(
                        text("DELETE FROM events WHERE sender_id = :sender"),
                        {"sender": c},
                    ).rowcount
                    for c in conversation_ids
                )
        finally:
            engine.dispose()


def export_person(
    store: BookingStore,
    conversations: Conversations,
    phone: str | None,
    email: str | None,
) -> dict[str, Any]:
    """Everything held about the person with this number or email."""
    bookings = store.find(phone, email)
    notes = store.notes()
    return {
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "requests": [
            {**b.as_dict(), "notes": [asdict(n) for n in notes.get(b.reference, [])]}
            for b in bookings
        ],
        "conversations": {
            c: conversations.transcript(c)
            for c in sorted({b.conversation_id for b in bookings})
        },
    }


def delete_person(
    store: BookingStore,
    queue: HandoffQueue,
    conversations: Conversations,
    phone: str | None,
    email: str | None,
) -> dict[str, int]:
    """Staff deleting one person's data now: their requests (notices sent or
    not), the conversations those came from, and those conversations'
    handoffs and messages to staff."""
    references = [b.reference for b in store.find(phone, email)]
    ids = store.delete_requests(references)
    return {
        "requests": len(references),
        "conversations": len(ids),
        "events": conversations.delete(ids),
        "handoffs": queue.forget(ids),
    }
