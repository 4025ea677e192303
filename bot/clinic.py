"""The clinic's facts, read from one settings file (``clinic.yml``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time
from functools import cache
from pathlib import Path

import yaml

from bot import PROJECT_ROOT

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = dict(
    zip(DAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=False)
)


@dataclass(frozen=True)
class Clinic:
    name: str
    phone: str
    address: str
    booking_link: str
    staff_email: str
    timezone: str
    opening_hours: dict[str, tuple[time, time]]
    # How long appointments take, in the clinic's words; None: not said.
    session_length: str | None = None

    def hours_text(self) -> str:
        """Opening hours in one line, e.g. "Mon–Thu 7 am–7 pm, Sat 8 am–12 pm"."""
        parts = []
        for day in DAYS:
            if day in self.opening_hours:
                start, end = self.opening_hours[day]
                parts.append(f"{DAY_NAMES[day]} {_clock(start)}–{_clock(end)}")
        return ", ".join(parts) if parts else "by appointment"


def _clock(value: time) -> str:
    hour = value.hour % 12 or 12
    suffix = "am" if value.hour < 12 else "pm"
    minutes = f":{value.minute:02d}" if value.minute else ""
    return f"{hour}{minutes} {suffix}"


def _parse_hours(raw: dict) -> dict[str, tuple[time, time]]:
    hours = {}
    for day, (start, end) in (raw or {}).items():
        if day not in DAYS:
            raise ValueError(f"opening_hours: unknown day {day!r}")
        opens, closes = time.fromisoformat(start), time.fromisoformat(end)
        if closes <= opens:
            raise ValueError(f"opening_hours: {day} closes before it opens")
        hours[day] = (opens, closes)
    return hours


def settings_path() -> Path:
    return Path(os.environ.get("CLINIC_SETTINGS", PROJECT_ROOT / "clinic.yml"))


@cache
def load_clinic(path: Path | None = None) -> Clinic:
    data = yaml.safe_load(Path(path or settings_path()).read_text(encoding="utf8"))
    return Clinic(
        name=data["name"],
        phone=data["phone"],
        address=data["address"],
        booking_link=data["booking_link"],
        staff_email=data["staff_email"],
        timezone=data.get("timezone", "Australia/Brisbane"),
        opening_hours=_parse_hours(data.get("opening_hours")),
        session_length=(data.get("session_length") or "").strip() or None,
    )
