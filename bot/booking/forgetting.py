"""Deleting what a conversation or a person left in the bookings database:
"forget me" (a request still on its way to the clinic is kept until it
arrives, then deleted) and staff deleting one person's data."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from sqlalchemy import (
    delete,
    or_,
    select,
)
from sqlalchemy.orm import Session

from bot.booking.records import FORGOTTEN_HANDOFF
from bot.booking.tables import BookingRow, NoteRow, NotificationRow


class Forgetting:
    """Mixed into ``BookingStore``: its engine and sessions."""

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
