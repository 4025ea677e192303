"""A durable local queue for booking requests the database could not take.

When ``DATABASE_URL`` is unreachable at submit time the request, with the
reference the user is given, goes into a small SQLite file next to the action
server (written with full fsync). The retry loop moves it into the database
once that is back. The booking store's dedupe key makes the move idempotent,
so a crash between storing and dequeuing can never create a duplicate.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from bot.booking.records import Booking, BookingRequest
from bot.booking.reference import new_reference
from bot.booking.store import BookingStore
from bot.conversation_ids import handle

logger = logging.getLogger(__name__)

DATETIME_FIELDS = {"preferred_start", "preferred_end"}


def dump_request(request: BookingRequest) -> str:
    return json.dumps(asdict(request), default=lambda v: v.isoformat())


def load_request(text: str) -> BookingRequest:
    data = json.loads(text)
    known = {f.name for f in fields(BookingRequest)}
    values = {k: v for k, v in data.items() if k in known}
    for name in DATETIME_FIELDS:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    return BookingRequest(**values)


class Spool:
    def __init__(self, path: Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS waiting ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " reference TEXT NOT NULL,"
            " request TEXT NOT NULL,"
            " queued_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        return conn

    def put(self, request: BookingRequest, reference: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO waiting (reference, request) VALUES (?, ?)",
                (reference, dump_request(request)),
            )
        conn.close()

    def waiting(self) -> list[tuple[int, str, BookingRequest]]:
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, reference, request FROM waiting ORDER BY id"
            ).fetchall()
        conn.close()
        waiting = []
        for spool_id, reference, text in rows:
            try:
                waiting.append((spool_id, reference, load_request(text)))
            except (ValueError, TypeError) as error:
                logger.error(
                    "queued request %s (spool row %s) is unreadable and stays in "
                    "%s for a person to look at: %s",
                    reference,
                    spool_id,
                    self.path,
                    error,
                )
        return waiting

    def remove(self, spool_id: int) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM waiting WHERE id = ?", (spool_id,))
        conn.close()


def submit_or_queue(
    store: BookingStore, spool: Spool, request: BookingRequest
) -> tuple[str, str, Booking | None]:
    """(reference, "stored" or "queued", booking when stored).

    Raises only when neither the database nor the local queue took it; then
    the caller must tell the user plainly that nothing was saved.
    """
    try:
        booking, _ = store.submit(request)
        return booking.reference, "stored", booking
    except Exception as error:  # noqa: BLE001 - any database failure: queue it
        logger.warning("database unavailable (%s); queueing the request", error)
    reference = new_reference()
    spool.put(request, reference)
    return reference, "queued", None


def drain(store: BookingStore, spool: Spool, conversation_id: str | None = None) -> int:
    """Move queued requests (only this conversation's, when given) into the
    database; return how many moved.

    An unreachable database stops the drain with everything still queued. A
    request the database refuses (bad data) is logged and stays queued, and
    the ones behind it still move."""
    moved = 0
    for spool_id, reference, request in spool.waiting():
        if conversation_id is not None and request.conversation_id != conversation_id:
            continue
        try:
            booking, _ = store.submit(request, reference=reference)
        except (OperationalError, InterfaceError):
            raise
        except SQLAlchemyError as error:
            logger.error(
                "queued request %s refused by the database, kept in the queue: %s",
                reference,
                error,
            )
            continue
        if booking.reference != reference:
            logger.error(
                "queued request %s stored as %s (reference taken); conversation %s",
                reference,
                booking.reference,
                handle(request.conversation_id),
            )
        spool.remove(spool_id)
        moved += 1
    return moved
