"""Booking requests and their notification outbox, stored with SQLAlchemy.

SQLite by default, any SQLAlchemy URL (PostgreSQL) from ``DATABASE_URL``.
Each booking row is written in the same transaction as its pending
notifications, so a request can never be stored without the clinic being
told about it eventually, even if mail is down at the time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, declarative_base, relationship, sessionmaker

from bot import migrations
from bot.booking.contact import normalise_email, normalise_phone
from bot.booking.reference import new_reference
from bot.conversation_ids import handle
from bot.db import as_utc, utcnow

Base = declarative_base()
STATUSES = ("new", "contacted", "booked", "declined", "closed")
NOTE_MAX = 2000
TARGETS = ("email", "webhook")
MAX_BACKOFF = timedelta(hours=1)
CLAIM_LEASE = timedelta(minutes=2)


class BookingRow(Base):
    __tablename__ = "booking_requests"

    id = Column(Integer, primary_key=True)
    reference = Column(String(16), nullable=False, unique=True)
    kind = Column(String(16), nullable=False, default="assessment")
    first_name = Column(String(100), nullable=False)
    phone = Column(String(20), nullable=False)
    email = Column(String(254))
    preferred_text = Column(String(200))
    preferred_start = Column(DateTime(timezone=True))
    preferred_end = Column(DateTime(timezone=True))
    preferred_label = Column(String(100))
    concern = Column(Text)
    consent = Column(Boolean, nullable=False, default=False)
    channel = Column(String(40))
    conversation_id = Column(String(255), nullable=False)
    dedupe_key = Column(String(64), nullable=False, unique=True)
    status = Column(String(16), nullable=False, default="new")
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    # The patient asked to be forgotten: deleted once every notice is sent.
    forget = Column(Boolean, nullable=False, default=False, server_default=false())

    notifications = relationship("NotificationRow", back_populates="booking")


class NotificationRow(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("booking_id", "target"),
        UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
    )

    id = Column(Integer, primary_key=True)
    # None for a message to staff (subject and body stored here).
    booking_id = Column(ForeignKey("booking_requests.id"))
    target = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(Text)
    next_attempt_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    sent_at = Column(DateTime(timezone=True))
    subject = Column(String(200))
    body = Column(Text)
    dedupe_key = Column(String(128))
    forget = Column(Boolean, nullable=False, default=False, server_default=false())

    booking = relationship("BookingRow", back_populates="notifications")


class NoteRow(Base):
    """Reception's note on a request: who wrote it and when."""

    __tablename__ = "booking_notes"

    id = Column(Integer, primary_key=True)
    booking_id = Column(ForeignKey("booking_requests.id"), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    who = Column(String(254), nullable=False)
    text = Column(Text, nullable=False)


@dataclass(frozen=True)
class Note:
    at: str
    who: str
    text: str


@dataclass(frozen=True)
class BookingRequest:
    """What the user gave us, already validated and normalised."""

    first_name: str
    phone: str
    conversation_id: str
    kind: str = "assessment"
    email: str | None = None
    preferred_text: str | None = None
    preferred_start: datetime | None = None
    preferred_end: datetime | None = None
    preferred_label: str | None = None
    concern: str | None = None
    consent: bool = False
    channel: str | None = None

    def dedupe_key(self) -> str:
        """Same conversation and same answers: the same request (a retry)."""
        fields = asdict(self)
        fields.pop("channel")
        payload = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Booking:
    reference: str
    kind: str
    name: str
    phone: str
    email: str | None
    preferred_time: dict
    concern: str | None
    consent: bool
    channel: str | None
    conversation_id: str
    created_at: str
    status: str
    # The patient asked to be forgotten: deleted once the clinic has it.
    forget: bool = False

    @classmethod
    def from_row(cls, row: BookingRow) -> Booking:
        start, end = as_utc(row.preferred_start), as_utc(row.preferred_end)
        return cls(
            reference=row.reference,
            kind=row.kind,
            name=row.first_name,
            phone=row.phone,
            email=row.email,
            preferred_time={
                "text": row.preferred_text,
                "label": row.preferred_label,
                "start": start.isoformat() if start else None,
                "end": end.isoformat() if end else None,
            },
            concern=row.concern,
            consent=row.consent,
            channel=row.channel,
            conversation_id=row.conversation_id,
            created_at=as_utc(row.created_at).isoformat(),
            status=row.status,
            forget=bool(row.forget),
        )

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def conversation(self) -> str:
        """The conversation's printable handle: its id is the widget's key
        to the patient's chat."""
        return handle(self.conversation_id)

    def shared(self) -> dict:
        """The request as it leaves the server (exports, the webhook): the
        conversation by its handle, and whether it is to be forgotten."""
        data = self.as_dict()
        del data["conversation_id"], data["forget"]
        return {
            **data,
            "conversation": self.conversation,
            "forget_after_delivery": self.forget,
        }


@dataclass(frozen=True)
class StaffMessage:
    """An email for the clinic's staff that is not a booking (a handoff)."""

    subject: str
    body: str
    dedupe_key: str


@dataclass(frozen=True)
class PendingNotification:
    id: int
    target: str
    attempts: int
    # One of the two.
    booking: Booking | None
    message: StaffMessage | None = None

    @property
    def label(self) -> str:
        return self.booking.reference if self.booking else self.message.subject


# The outbox target of messages to staff.
STAFF_EMAIL = "staff_email"
# What a queued message to staff says once its patient asked to be
# forgotten: nothing of theirs.
FORGOTTEN_HANDOFF = (
    "Chat handoff withdrawn",
    "A patient asked to talk to a person, then asked for their data to be "
    "deleted. The conversation and its live chat are gone; there is nothing "
    "to answer.\n",
)


class BookingStore:
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
            preferred_start=_to_utc(request.preferred_start),
            preferred_end=_to_utc(request.preferred_end),
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

    def forget_conversation(self, conversation_id: str) -> dict[str, int]:
        """What a conversation left here, for a patient who asked to be
        forgotten: a request or message to staff whose notices have gone is
        deleted now; one still on its way is marked, so the clinic still
        gets it, and deleted once sent (``purge_forgotten``). A message to
        staff still queued loses what the patient said at once: with the
        mail server down it could wait for days."""
        counts = {"deleted": 0, "after_notice": 0}
        with self.session() as session:
            bookings = session.execute(
                select(BookingRow).where(BookingRow.conversation_id == conversation_id)
            ).scalars()
            for row in bookings.all():
                if all(n.status == "sent" for n in row.notifications):
                    self._delete_booking(session, row.id)
                    counts["deleted"] += 1
                else:
                    row.forget = True
                    counts["after_notice"] += 1
            for message in self._staff_messages(session, conversation_id):
                if message.status == "sent":
                    session.delete(message)
                else:
                    message.forget = True
                    message.subject, message.body = FORGOTTEN_HANDOFF
            session.commit()
        return counts

    def erase(
        self, references: Iterable[str], conversation_ids: Iterable[str]
    ) -> dict[str, int]:
        """Delete these requests (with their notes and notices, sent or
        not) and these conversations' messages to staff, now: staff acting
        on a privacy request. The counts are the rows the database deleted."""
        counts = {"requests": 0, "staff_messages": 0}
        with self.session() as session:
            for reference in references:
                row = self._find(session, reference)
                if row is not None:
                    counts["requests"] += self._delete_booking(session, row.id)
            for conversation_id in set(conversation_ids):
                for message in self._staff_messages(session, conversation_id):
                    session.delete(message)
                    counts["staff_messages"] += 1
            session.commit()
        return counts

    def purge_forgotten(self) -> int:
        """Requests and messages of forgotten conversations whose notices
        have now all gone; how many were deleted."""
        deleted = 0
        with self.session() as session:
            rows = session.execute(
                select(BookingRow).where(BookingRow.forget.is_(True))
            ).scalars()
            for row in rows.all():
                if all(n.status == "sent" for n in row.notifications):
                    self._delete_booking(session, row.id)
                    deleted += 1
            deleted += session.execute(
                delete(NotificationRow)
                .where(NotificationRow.forget.is_(True))
                .where(NotificationRow.status == "sent")
            ).rowcount
            session.commit()
        return deleted

    @staticmethod
    def _staff_messages(session: Session, conversation_id: str) -> list:
        """The conversation's messages to staff, by their keys:
        ``handoff:<sha256 of the id>:...`` (actions/handoff.py), or
        ``handoff:<id>:...`` for one queued before ids were hashed there."""
        hashed = hashlib.sha256(conversation_id.encode("utf8")).hexdigest()
        prefixes = [
            re.sub(r"([\\%_])", r"\\\1", f"handoff:{c}:")
            for c in (hashed, conversation_id)
        ]
        return list(
            session.execute(
                select(NotificationRow)
                .where(NotificationRow.booking_id.is_(None))
                .where(
                    or_(
                        *(
                            NotificationRow.dedupe_key.like(p + "%", escape="\\")
                            for p in prefixes
                        )
                    )
                )
            ).scalars()
        )

    @staticmethod
    def _delete_booking(session: Session, booking_id: int) -> int:
        """1 when the request was deleted, 0 when it had already gone."""
        session.execute(delete(NoteRow).where(NoteRow.booking_id == booking_id))
        session.execute(
            delete(NotificationRow).where(NotificationRow.booking_id == booking_id)
        )
        return session.execute(
            delete(BookingRow).where(BookingRow.id == booking_id)
        ).rowcount

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

    def claim_due_notifications(
        self, now: datetime | None = None
    ) -> list[PendingNotification]:
        """Due notifications, each claimed for a while so that two deliverers
        (the retry loop and a fresh booking, or two instances) never send the
        same one twice. A claim that is never resolved expires and is retried."""
        now = _to_utc(now or utcnow())
        with self.session() as session:
            candidates = (
                session.execute(
                    select(NotificationRow.id)
                    .where(NotificationRow.status == "pending")
                    .where(NotificationRow.next_attempt_at <= now)
                    .order_by(NotificationRow.id)
                )
                .scalars()
                .all()
            )
            claimed = []
            for notification_id in candidates:
                won = session.execute(
                    update(NotificationRow)
                    .where(NotificationRow.id == notification_id)
                    .where(NotificationRow.status == "pending")
                    .where(NotificationRow.next_attempt_at <= now)
                    .values(next_attempt_at=now + CLAIM_LEASE)
                    .execution_options(synchronize_session=False)
                ).rowcount
                session.commit()
                if won:
                    claimed.append(notification_id)
            rows = [session.get(NotificationRow, i) for i in claimed]
            return [
                PendingNotification(
                    r.id,
                    r.target,
                    r.attempts,
                    Booking.from_row(r.booking) if r.booking else None,
                    None
                    if r.booking
                    else StaffMessage(r.subject, r.body, r.dedupe_key),
                )
                for r in rows
            ]

    def queue_staff_message(self, message: StaffMessage) -> bool:
        """Queue an email for staff in the outbox; False if a message with
        the same key is already there (the same handoff run again)."""
        with self.session() as session:
            exists = session.execute(
                select(NotificationRow.id).where(
                    NotificationRow.dedupe_key == message.dedupe_key
                )
            ).first()
            if exists:
                return False
            session.add(
                NotificationRow(
                    target=STAFF_EMAIL,
                    subject=message.subject[:200],
                    body=message.body,
                    dedupe_key=message.dedupe_key,
                )
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
            return True

    def notification_sent(self, notification_id: int) -> None:
        with self.session() as session:
            row = session.get(NotificationRow, notification_id)
            if row is None:  # deleted by a privacy request while it was sent
                return
            row.status, row.sent_at = "sent", utcnow()
            row.attempts += 1
            session.commit()

    def notification_failed(self, notification_id: int, error: str) -> None:
        """Keep it pending and try again later, backing off up to an hour."""
        with self.session() as session:
            row = session.get(NotificationRow, notification_id)
            if row is None:  # deleted by a privacy request meanwhile
                return
            row.attempts += 1
            row.last_error = error[:1000]
            delay = min(self.backoff * 2 ** (row.attempts - 1), MAX_BACKOFF)
            row.next_attempt_at = utcnow() + delay
            session.commit()

    def notification_status(self, reference: str) -> dict[str, str]:
        with self.session() as session:
            row = self._find(session, reference)
            return {n.target: n.status for n in row.notifications} if row else {}


def _to_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("times must carry a time zone")
    return value.astimezone(timezone.utc)


CSV_FIELDS = (
    "reference", "kind", "name", "phone", "email", "preferred_start",
    "preferred_end", "preferred_label", "concern", "consent", "channel",
    "conversation", "created_at", "status", "forget_after_delivery",
)  # fmt: skip


CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def csv_safe(value: object) -> str:
    """Neutralise spreadsheet formulas (=, +, -, @, tab, CR) in exported cells;
    control and bidi characters (from requests stored before every channel
    cleaned its text) are dropped, so one bad row cannot stop the export."""
    text = "" if value is None else CONTROL.sub("", str(value))
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def export_csv(bookings: Iterable[Booking]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for b in bookings:
        row = {
            **b.shared(),
            "preferred_start": b.preferred_time["start"],
            "preferred_end": b.preferred_time["end"],
            "preferred_label": b.preferred_time["label"],
            "forget_after_delivery": "yes" if b.forget else "",
        }
        writer.writerow([csv_safe(row[f]) for f in CSV_FIELDS])
    return out.getvalue()
