"""What the booking store takes and gives: requests, stored bookings, notes,
messages to staff and notifications due, as plain values."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime

from bot.booking.tables import BookingRow
from bot.conversation_ids import handle
from bot.db import as_utc

STATUSES = ("new", "contacted", "booked", "declined", "closed")
NOTE_MAX = 2000
# Control and bidi characters: kept out of notes and the CSV.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


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
