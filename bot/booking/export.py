"""Booking requests as a CSV file for reception, safe to open in a
spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from bot.booking.records import CONTROL, Booking

CSV_FIELDS = (
    "reference", "kind", "name", "phone", "email", "preferred_start",
    "preferred_end", "preferred_label", "concern", "consent", "channel",
    "conversation", "created_at", "status", "forget_after_delivery",
)  # fmt: skip


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
