"""Booking requests and their notification outbox, stored with SQLAlchemy.

SQLite by default, any SQLAlchemy URL (PostgreSQL) from ``DATABASE_URL``.
Each booking row is written in the same transaction as its pending
notifications, so a request can never be stored without the clinic being
told about it eventually, even if mail is down at the time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import (
    func,
    or_,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import migrations
from bot.booking.contact import normalise_email, normalise_phone
from bot.booking.forgetting import Forgetting
from bot.booking.outbox import TARGETS, Outbox
from bot.booking.records import (
    CONTROL,
    NOTE_MAX,
    STATUSES,
    Booking,
    BookingRequest,
    Note,
)
from bot.booking.reference import new_reference
from bot.booking.tables import BookingRow, NoteRow, NotificationRow
from bot.db import as_utc, to_utc, utcnow


class BookingStore(Outbox, Forgetting):
    """All reads and writes of booking requests; connects on first use."""

    def __init__(
        self,
        url: str,
        targets: Iterable[str] = ("email",),
        backoff: timedelta = timedelta(seconds=30),
    ):
        self.url = url
        self.backoff = backoff
        self.targets = tuple(t for t in targets if t in TARGETS)
        self._engine = migrations.OnFirstUse(url)
        self._sessions: sessionmaker | None = None

    @classmethod
    def from_settings(cls, settings) -> BookingStore:
        return cls(
            settings.database_url,
            settings.notification_targets(),
            timedelta(seconds=settings.outbox_backoff_seconds),
        )

    @property
    def engine(self) -> Engine:
        """Connected, with its tables, on first use."""
        return self._engine()

    def session(self) -> Session:
        if self._sessions is None:
            self._sessions = sessionmaker(self.engine, future=True)
        return self._sessions()

    def submit(
        self, request: BookingRequest, reference: str | None = None
    ) -> tuple[Booking, bool]:
        """Store the request once; return it and whether it was new.

        ``reference`` is the one already given to the user (a queued request);
        only if another booking holds it is a new one drawn."""
        key = request.dedupe_key()
        for attempt in range(10):
            with self.session() as session:
                existing = session.execute(
                    select(BookingRow).where(BookingRow.dedupe_key == key)
                ).scalar_one_or_none()
                if existing:
                    return Booking.from_row(existing), False
                row = self._row(request, key, reference if attempt == 0 else None)
                session.add(row)
                for target in self.targets:
                    session.add(NotificationRow(booking=row, target=target))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return Booking.from_row(row), True
        raise RuntimeError("could not allocate a unique booking reference")

    @staticmethod
    def _row(request: BookingRequest, key: str, reference: str | None) -> BookingRow:
        return BookingRow(
            reference=reference or new_reference(),
            kind=request.kind,
            first_name=request.first_name,
            phone=request.phone,
            email=request.email,
            preferred_text=request.preferred_text,
            preferred_start=to_utc(request.preferred_start),
            preferred_end=to_utc(request.preferred_end),
            preferred_label=request.preferred_label,
            concern=request.concern,
            consent=request.consent,
            channel=request.channel,
            conversation_id=request.conversation_id,
            dedupe_key=key,
            status="new",
            created_at=utcnow(),
        )

    def list(self, status: str | None = None) -> list[Booking]:
        with self.session() as session:
            query = select(BookingRow).order_by(BookingRow.created_at, BookingRow.id)
            if status:
                query = query.where(BookingRow.status == status)
            return [Booking.from_row(r) for r in session.execute(query).scalars()]

    def get(self, reference: str) -> Booking | None:
        with self.session() as session:
            row = self._find(session, reference)
            return Booking.from_row(row) if row else None

    def mark(self, reference: str, status: str) -> Booking:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with self.session() as session:
            row = self._find(session, reference)
            if row is None:
                raise KeyError(reference)
            row.status = status
            session.commit()
            return Booking.from_row(row)

    def find(self, phone: str | None = None, email: str | None = None) -> list[Booking]:
        """One person's requests: those with this number or those with this
        email, each compared the way requests store them (+61..., the email
        in any case), so a privacy request finds everything held about
        either, not only the requests that have both."""
        wanted = []
        if phone and (number := normalise_phone(phone) or phone.strip()):
            wanted.append(BookingRow.phone == number)
        if email and (address := normalise_email(email) or email.strip()):
            wanted.append(func.lower(BookingRow.email) == address.lower())
        if not wanted:
            return []
        query = (
            select(BookingRow)
            .where(or_(*wanted))
            .order_by(BookingRow.created_at, BookingRow.id)
        )
        with self.session() as session:
            return [Booking.from_row(r) for r in session.execute(query).scalars()]

    def for_conversations(self, conversation_ids: Iterable[str]) -> list[Booking]:
        """The requests these conversations made."""
        ids = sorted(set(conversation_ids))
        if not ids:
            return []
        query = (
            select(BookingRow)
            .where(BookingRow.conversation_id.in_(ids))
            .order_by(BookingRow.created_at, BookingRow.id)
        )
        with self.session() as session:
            return [Booking.from_row(r) for r in session.execute(query).scalars()]

    def add_note(self, reference: str, who: str, text: str) -> Note:
        text = CONTROL.sub("", text).strip()
        if not text:
            raise ValueError("the note is empty")
        if len(text) > NOTE_MAX:
            raise ValueError(f"a note has at most {NOTE_MAX} characters")
        with self.session() as session:
            row = self._find(session, reference)
            if row is None:
                raise KeyError(reference)
            note = NoteRow(booking_id=row.id, who=who[:254], text=text, at=utcnow())
            session.add(note)
            session.commit()
            return Note(as_utc(note.at).isoformat(), note.who, note.text)

    def notes(self) -> dict[str, list[Note]]:
        """Every request's notes, oldest first, by reference."""
        with self.session() as session:
            rows = session.execute(
                select(BookingRow.reference, NoteRow)
                .join(NoteRow, NoteRow.booking_id == BookingRow.id)
                .order_by(NoteRow.id)
            ).all()
        found: dict[str, list[Note]] = {}
        for reference, note in rows:
            found.setdefault(reference, []).append(
                Note(as_utc(note.at).isoformat(), note.who, note.text)
            )
        return found

    @staticmethod
    def _find(session: Session, reference: str) -> BookingRow | None:
        return session.execute(
            select(BookingRow).where(BookingRow.reference == reference.strip().upper())
        ).scalar_one_or_none()
