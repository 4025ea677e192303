"""Rasa's conversations as the rest of the project reads them.

The tracker store's ``events`` table (one row per event) has one owner
here: privacy requests, What patients ask and retention read and delete
through ``Conversations``, with one engine each, and ``conversations_url``
is the one place that says where the conversations live (the tracker
store's endpoint is built from it, bot/rasa/endpoints.py).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url

from bot.booking.contact import normalise_email, normalise_phone
from bot.settings import Settings

# Between the digits of a number as people type it: "0412 345 678",
# "(07) 3123-4567", "+61.412.345.678".
NUMBER_GAPS = re.compile(r"(?<=\d)[\s().-]+(?=\d)")
EMAILS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def conversations_url(settings: Settings) -> str:
    """Where Rasa keeps the conversations: ``TRACKER_DATABASE_URL`` if set;
    else the bookings database when that is PostgreSQL; else the SQLite
    file ``TRACKER_DB``."""
    if settings.tracker_database_url:
        return settings.tracker_database_url
    if make_url(settings.database_url).get_backend_name() == "postgresql":
        return settings.database_url
    return f"sqlite:///{settings.tracker_db}"


def _number_pattern(phone: str) -> re.Pattern | None:
    """The ways a stored number (+61...) appears once the gaps between its
    digits are closed: 0412345678, 61412345678, +61412345678."""
    if not phone.startswith("+61"):
        return None
    rest = phone[3:]
    national = rest if rest.startswith(("13", "18")) else "0" + rest
    return re.compile(rf"(?<!\d)(?:{national}|(?:00)?61{rest})(?!\d)")


class Conversations:
    """Read, search and delete conversations in Rasa's tracker store."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._made: Engine | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Conversations:
        return cls(conversations_url(settings))

    @property
    def engine(self) -> Engine:
        """One engine for the life of this object, made on first use."""
        with self._lock:
            if self._made is None:
                self._made = create_engine(self.url, future=True, pool_pre_ping=True)
            return self._made

    def dispose(self) -> None:
        with self._lock:
            if self._made is not None:
                self._made.dispose()
                self._made = None

    @staticmethod
    def _has_events(conn: Connection) -> bool:
        """Rasa makes the table with the first conversation."""
        return "events" in inspect(conn).get_table_names()

    def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        """What the patient and the clinic's side said, oldest first."""
        with self.engine.connect() as conn:
            if not self._has_events(conn):
                return []
            rows = conn.execute(
                text(
                    "SELECT data FROM events WHERE sender_id = :sender "
                    "AND type_name IN ('user', 'bot') ORDER BY id"
                ),
                {"sender": conversation_id},
            ).all()
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
        with self.engine.connect() as conn:
            if not self._has_events(conn):
                return set()
            rows = conn.execute(
                text(
                    "SELECT sender_id, type_name, data FROM events WHERE "
                    + " OR ".join(conditions)
                ),
                values,
            ).all()
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
        with self.engine.connect() as conn:
            if not self._has_events(conn):
                return counts
            for conversation_id in conversation_ids:
                counts[conversation_id] = conn.execute(
                    text(
                        "SELECT COUNT(*) FROM events WHERE sender_id = :sender "
                        "AND type_name IN ('user', 'bot')"
                    ),
                    {"sender": conversation_id},
                ).scalar_one()
        return counts

    def delete(self, conversation_ids: list[str]) -> dict[str, int]:
        """Delete these conversations; how many of them held anything, and
        how many events went."""
        counts = {"conversations": 0, "events": 0}
        with self.engine.begin() as conn:
            if not self._has_events(conn):
                return counts
            for conversation_id in conversation_ids:
                gone = conn.execute(
                    text("DELETE FROM events WHERE sender_id = :sender"),
                    {"sender": conversation_id},
                ).rowcount
                counts["conversations"] += gone > 0
                counts["events"] += gone
        return counts

    def idle_since(self, cutoff: datetime) -> list[str]:
        """Conversations whose last event is older than ``cutoff``."""
        with self.engine.connect() as conn:
            if not self._has_events(conn):
                return []
            return [
                sender
                for (sender,) in conn.execute(
                    text(
                        "SELECT sender_id FROM events GROUP BY sender_id "
                        "HAVING max(timestamp) < :cutoff"
                    ),
                    {"cutoff": cutoff.timestamp()},
                )
            ]

    def turns_since(self, since: datetime) -> Iterator[tuple[str, dict, set[str]]]:
        """Each user message since ``since``: (conversation, its event, the
        names of the actions that answered it)."""
        with self.engine.connect() as conn:
            if not self._has_events(conn):
                return
            rows = conn.execute(
                text(
                    "SELECT sender_id, type_name, data FROM events "
                    "WHERE timestamp >= :since AND type_name IN ('user', 'action') "
                    "ORDER BY sender_id, id"
                ),
                {"since": since.timestamp()},
            )
            current = None
            for sender, kind, data in rows:
                if kind == "user":
                    if current:
                        yield current
                    current = (sender, json.loads(data), set())
                elif current and current[0] == sender:
                    current[2].add(json.loads(data).get("name"))
            if current:
                yield current
