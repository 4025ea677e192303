"""The bookings database's tables as the booking store maps them (the
schema itself is made by bot/migrations)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import declarative_base, relationship

from bot.db import utcnow

Base = declarative_base()


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
