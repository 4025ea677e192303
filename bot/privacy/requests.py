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
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import create_engine, inspect, text

from bot.booking.contact import normalise_email, normalise_phone
from bot.booking.spool import Spool, drain
from bot.booking.store import Booking, BookingStore
from bot.conversation_ids import handle
from bot.handoff.queue import HandoffQueue
from bot.privacy.retention import tracker_database_url
from bot.settings import Settings

# The slots that hold what the patient gave the booking and callback forms.
CONTACT_SLOTS = ("phone", "email")
# Between the digits of a number as people type it: "0412 345 678",
# "(07) 3123-4567", "+61.412.345.678".
NUMBER_GAPS = re.compile(r"(?<=\d)[\s().-]+(?=\d)")
EMAILS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


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


def _number_pattern(phone: str) -> re.Pattern | None:
    """The ways a stored number (+61...) appears once the gaps between its
    digits are closed: 0412345678, 61412345678, +61412345678."""
    if not phone.startswith("+61"):
        return None
    rest = phone[3:]
    national = rest if rest.startswith(("13", "18")) else "0" + rest
    return re.compile(rf"(?<!\d)(?:{national}|(?:00)?61{rest})(?!\d)")


@dataclass
class Conversations:
    """Read, search and delete conversations in Rasa's tracker store."""

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

    def find(self, phone: str | None, email: str | None) -> set[str]:
        """Conversations that hold this number or this email: given to a
        booking or callback form (its slots) or typed in a message."""
        number = _number_pattern(phone) if phone else None
        address = email.lower() if email else None
        if number is None and address is None:
            return set()
        # Narrowed in SQL (the number's last two digits, the email as
        # typed), matched exactly here.
        conditions, values = [], {}
        if number is not None:
            conditions.append(
                "((type_name = 'user' OR (type_name = 'slot' AND action_name = "
                "'phone')) AND data LIKE :digits)"
            )
            values["digits"] = f"%{phone[-2:]}%"
        if address is not None:
            conditions.append(
                "((type_name = 'user' OR (type_name = 'slot' AND action_name = "
                "'email')) AND lower(data) LIKE :email ESCAPE '\\')"
            )
            values["email"] = "%" + re.sub(r"([\\%_])", r"\\\1", address) + "%"
        engine = self._engine()
        try:
            if "events" not in inspect(engine).get_table_names():
                return set()
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT sender_id, type_name, data FROM events WHERE "
                        + " OR ".join(conditions)
                    ),
                    values,
                ).all()
        finally:
            engine.dispose()
        found = set()
        for sender, kind, data in rows:
            event = json.loads(data)
            if kind == "slot":
                given = str(event.get("value") or "")
                if (number is not None and normalise_phone(given) == phone) or (
                    address and (normalise_email(given) or "").lower() == address
                ):
                    found.add(sender)
                continue
            said = str(event.get("text") or "")
            if number is not None and number.search(NUMBER_GAPS.sub("", said)):
                found.add(sender)
            elif address and address in (e.lower() for e in EMAILS.findall(said)):
                found.add(sender)
        return found

    def message_counts(self, conversation_ids: list[str]) -> dict[str, int]:
        """How many messages each of these conversations holds."""
        counts = {c: 0 for c in conversation_ids}
        if not conversation_ids:
            return counts
        engine = self._engine()
        try:
            if "events" not in inspect(engine).get_table_names():
                return counts
            with engine.connect() as conn:
                for conversation_id in conversation_ids:
                    counts[conversation_id] = conn.execute(
                        text(
                            "SELECT COUNT(*) FROM events WHERE sender_id = :sender "
                            "AND type_name IN ('user', 'bot')"
                        ),
                        {"sender": conversation_id},
                    ).scalar_one()
        finally:
            engine.dispose()
        return counts

    def delete(self, conversation_ids: list[str]) -> dict[str, int]:
        """Delete these conversations; how many of them held anything, and
        how many events went."""
        engine = self._engine()
        counts = {"conversations": 0, "events": 0}
        try:
            if "events" not in inspect(engine).get_table_names():
                return counts
            with engine.begin() as conn:
                for conversation_id in conversation_ids:
                    gone = conn.execute(
                        text("DELETE FROM events WHERE sender_id = :sender"),
                        {"sender": conversation_id},
                    ).rowcount
                    counts["conversations"] += gone > 0
                    counts["events"] += gone
        finally:
            engine.dispose()
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
