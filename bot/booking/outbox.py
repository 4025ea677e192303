"""The outbox's side of the booking store: notifications claimed when due,
marked sent or failed (retried with a growing pause), and messages to
staff queued once each. bot/notify/outbox.py delivers them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from bot.booking.records import (
    STAFF_EMAIL,
    Booking,
    PendingNotification,
    StaffMessage,
)
from bot.booking.tables import NotificationRow
from bot.db import to_utc, utcnow

TARGETS = ("email", "webhook")
MAX_BACKOFF = timedelta(hours=1)
CLAIM_LEASE = timedelta(minutes=2)


class Outbox:
    """Mixed into ``BookingStore``: its engine and sessions."""

    def claim_due_notifications(
        self, now: datetime | None = None
    ) -> list[PendingNotification]:
        """Due notifications, each claimed for a while so that two deliverers
        (the retry loop and a fresh booking, or two instances) never send the
        same one twice. A claim that is never resolved expires and is retried."""
        now = to_utc(now or utcnow())
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
