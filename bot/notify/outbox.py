"""Deliver pending notifications (bookings, callbacks, messages to staff);
failures stay queued for a retry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.booking.records import STAFF_EMAIL, Booking, StaffMessage
from bot.booking.spool import Spool, drain
from bot.booking.store import BookingStore
from bot.clinic.facts import Clinic
from bot.notify.mail import send_mail
from bot.notify.webhook import post_signed
from bot.settings import Settings

logger = logging.getLogger(__name__)

KIND_TITLES = {
    "assessment": "Free initial assessment request",
    "callback": "Callback request",
}


def booking_email(booking: Booking) -> tuple[str, str]:
    """Subject and body of the email reception receives: the conversation by
    its handle (its id is the widget's key to the patient's chat, and an
    email is kept and forwarded)."""
    when = booking.preferred_time
    lines = [
        f"{KIND_TITLES.get(booking.kind, 'Request')} {booking.reference}",
        "",
        f"Name:       {booking.name}",
        f"Phone:      {booking.phone}",
        f"Email:      {booking.email or '-'}",
        f"Preferred:  {when.get('label') or '-'} ({when.get('text') or '-'})",
        f"Concern:    {booking.concern or '-'}",
        f"Consent to contact: {'yes' if booking.consent else 'no'}",
        f"Channel:    {booking.channel or '-'}",
        f"Conversation: {booking.conversation}",
        f"Received:   {booking.created_at}",
    ]
    if booking.forget:
        lines += [
            "",
            "Forget after delivery: the patient asked for their data to be "
            "deleted. The assistant deletes this request now that you have it; "
            "keep only what you need to contact them.",
        ]
    title = KIND_TITLES.get(booking.kind, "Request")
    return f"{title} {booking.reference}: {booking.name}", "\n".join(lines) + "\n"


# A booking notification's sender gets the booking; staff_email's, the message.
Sender = Callable[[Booking | StaffMessage], None]


def default_senders(settings: Settings, clinic: Clinic) -> dict[str, Sender]:
    def email(booking: Booking) -> None:
        subject, body = booking_email(booking)
        send_mail(settings.smtp, clinic.staff_email, subject, body)

    def webhook(booking: Booking) -> None:
        if not settings.webhook_url or not settings.webhook_secret:
            raise RuntimeError(
                "BOOKING_WEBHOOK_URL and BOOKING_WEBHOOK_SECRET must both be set"
            )
        post_signed(
            settings.webhook_url,
            settings.webhook_secret,
            {"booking": booking.shared()},
        )

    def staff_email(message: StaffMessage) -> None:
        send_mail(settings.smtp, clinic.staff_email, message.subject, message.body)

    return {"email": email, "webhook": webhook, STAFF_EMAIL: staff_email}


def deliver_due(
    store: BookingStore,
    senders: dict[str, Sender],
    reference: str | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Try every due notification (or only one booking's); count the outcomes."""
    counts = {"sent": 0, "failed": 0}
    for item in store.claim_due_notifications(now):
        if reference and (item.booking is None or item.booking.reference != reference):
            continue
        sender = senders.get(item.target)
        try:
            if sender is None:
                raise RuntimeError(f"no sender for {item.target}")
            sender(item.booking or item.message)
        except Exception as error:  # noqa: BLE001 - any failure keeps it queued
            logger.warning(
                "notification %s for %s failed: %s", item.target, item.label, error
            )
            store.notification_failed(item.id, f"{type(error).__name__}: {error}")
            counts["failed"] += 1
        else:
            store.notification_sent(item.id)
            counts["sent"] += 1
    if counts["sent"]:
        # What a patient asked to be forgotten goes once the clinic has it.
        store.purge_forgotten()
    return counts


def flush(
    store: BookingStore, spool: Spool, senders: dict[str, Sender]
) -> dict[str, int]:
    """Move requests queued while the database was down, then deliver."""
    moved = drain(store, spool)
    return {"moved": moved, **deliver_due(store, senders)}
