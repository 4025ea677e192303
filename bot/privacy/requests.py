"""One person's data, found, exported and deleted (Australian Privacy
Principles 11.2 and 12): by the patient in the chat ("forget me") and by
staff in the console.

A conversation lives in Rasa's tracker store (its events, one row each); what
it left in the bookings database are booking and callback requests, their
notes and notifications, messages to staff about it, and its handoffs.

A person is found by phone number or email, either one: their requests with
that number or that email, the conversations those came from, and any other
conversation in which that number or email was given or typed.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from bot.booking.records import Booking
from bot.booking.spool import Spool, drain
from bot.booking.store import BookingStore
from bot.conversation_ids import handle
from bot.conversations import Conversations
from bot.handoff.queue import HandoffQueue


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
    turn (bot/rasa/tracker_store.py)."""
    if spool is not None:
        drain(store, spool, conversation_id)
    counts = store.forget_conversation(conversation_id)
    counts["handoffs"] = queue.forget([conversation_id])
    return counts


@dataclass(frozen=True)
class Person:
    """Everything held about the person with a number or an email: the
    requests and the conversations (by id, with how many messages each)."""

    requests: list[Booking]
    conversations: dict[str, int]

    @property
    def empty(self) -> bool:
        return not self.requests and not self.conversations

    def fingerprint(self) -> str:
        """Names exactly what was shown to staff, so a deletion confirmed
        on it deletes nothing else (a request that arrived meanwhile)."""
        shown = sorted(b.reference for b in self.requests)
        shown += sorted(handle(c) for c in self.conversations)
        return hashlib.sha256("\n".join(shown).encode()).hexdigest()[:32]


def find_person(
    store: BookingStore,
    conversations: Conversations,
    phone: str | None,
    email: str | None,
) -> Person:
    """The person's requests (by number or by email) and conversations (the
    ones the requests came from, and any that hold the number or email),
    with every request those conversations made."""
    requests = {b.reference: b for b in store.find(phone, email)}
    ids = {b.conversation_id for b in requests.values()}
    ids |= conversations.find(phone, email)
    for booking in store.for_conversations(ids):
        requests.setdefault(booking.reference, booking)
    ordered = sorted(requests.values(), key=lambda b: (b.created_at, b.reference))
    return Person(ordered, conversations.message_counts(sorted(ids)))


def export_person(
    store: BookingStore,
    conversations: Conversations,
    phone: str | None,
    email: str | None,
) -> dict[str, Any]:
    """Everything held about the person with this number or email, the
    conversations by their handles (an id is the key to the chat)."""
    person = find_person(store, conversations, phone, email)
    notes = store.notes()
    return {
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "requests": [
            {**b.shared(), "notes": [asdict(n) for n in notes.get(b.reference, [])]}
            for b in person.requests
        ],
        "conversations": {
            handle(c): conversations.transcript(c) for c in person.conversations
        },
    }


def delete_person(
    store: BookingStore,
    queue: HandoffQueue,
    conversations: Conversations,
    phone: str | None,
    email: str | None,
    seen: str | None = None,
) -> dict[str, int] | None:
    """Staff deleting one person's data now: their requests (notices sent or
    not), their conversations, and those conversations' handoffs and
    messages to staff. ``seen`` is the fingerprint of what staff confirmed;
    if what is held has changed since, nothing is deleted (None). The
    counts are what the databases deleted."""
    person = find_person(store, conversations, phone, email)
    if seen is not None and seen != person.fingerprint():
        return None
    ids = sorted(person.conversations)
    erased = store.erase([b.reference for b in person.requests], ids)
    deleted = conversations.delete(ids)
    return {
        "requests": erased["requests"],
        "conversations": deleted["conversations"],
        "events": deleted["events"],
        "handoffs": queue.forget(ids),
        "staff_messages": erased["staff_messages"],
    }
