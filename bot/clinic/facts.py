"""The clinic's facts, read from one settings file (``clinic.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from functools import cache
from pathlib import Path

import yaml

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
    # The fields below are the clinic's own words, each None (or empty)
    # when the clinic has not said: the assistant then asks people to call.
    email: str | None = None
    public_holidays: str | None = None
    parking: str | None = None
    public_transport: str | None = None
    prices: tuple[str, ...] = ()
    needling_cost: str | None = None
    payment_methods: tuple[str, ...] = ()
    # Keyed by scheme: private_health, hicaps, medicare, dva, workcover, ctp.
    rebates: dict[str, str] = field(default_factory=dict)
    referral: str | None = None
    what_to_wear: str | None = None
    what_to_bring: str | None = None
    session_plan: str | None = None

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


@cache
def load_clinic(path: Path) -> Clinic:
    """The clinic's facts from ``path`` (``Settings.clinic_settings``), read
    once per process."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf8"))
    return Clinic(
        name=data["name"],
        phone=data["phone"],
        address=data["address"],
        booking_link=data["booking_link"],
        staff_email=data["staff_email"],
        timezone=data.get("timezone", "Australia/Brisbane"),
        opening_hours=_parse_hours(data.get("opening_hours")),
        session_length=_text(data, "session_length"),
        email=_text(data, "email"),
        public_holidays=_text(data, "public_holidays"),
        parking=_text(data, "parking"),
        public_transport=_text(data, "public_transport"),
        prices=_texts(data, "prices"),
        needling_cost=_text(data, "needling_cost"),
        payment_methods=_texts(data, "payment_methods"),
        rebates=_rebates(data.get("rebates")),
        referral=_text(data, "referral"),
        what_to_wear=_text(data, "what_to_wear"),
        what_to_bring=_text(data, "what_to_bring"),
        session_plan=_text(data, "session_plan"),
    )


REBATE_SCHEMES = ("private_health", "hicaps", "medicare", "dva", "workcover", "ctp")


def _text(data: dict, key: str) -> str | None:
    """The clinic's words for ``key``, or None when left empty."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected text, got {type(value).__name__}")
    return value.strip() or None


def _texts(data: dict, key: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: expected a list of texts")
    return tuple(v.strip() for v in value if v.strip())


def _rebates(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("rebates: expected one entry per scheme")
    unknown = set(raw) - set(REBATE_SCHEMES)
    if unknown:
        raise ValueError(f"rebates: unknown scheme(s) {sorted(unknown)}")
    texts = {key: _text(raw, key) for key in raw}
    return {key: text for key, text in texts.items() if text}
