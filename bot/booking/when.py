"""Turn "tomorrow arvo" or "next Tuesday after 3" into a concrete window.

``dateparser`` finds the day; the part of day ("morning", "arvo", "after 3",
"before 10", "at 2:30") is read here, because dateparser has no notion of a
window. Windows are in the clinic's time zone and clipped to opening hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dateparser

from bot.clinic.facts import DAYS, Clinic

ANY_TIME = re.compile(
    r"\b(any\s*time|whenever|asap|as soon as possible|soonest|no preference|"
    r"don'?t mind|dont care|flexible|first available|earliest)\b",
    re.I,
)
PARTS = {
    "morning": (time(0, 0), time(12, 0)),
    "arvo": (time(12, 0), time(17, 0)),
    "afternoon": (time(12, 0), time(17, 0)),
    "lunch": (time(11, 30), time(14, 0)),
    "lunchtime": (time(11, 30), time(14, 0)),
    "evening": (time(17, 0), time(23, 59)),
    "night": (time(17, 0), time(23, 59)),
    "tonight": (time(17, 0), time(23, 59)),
}
PART_WORDS = re.compile(
    r"\b(in\s+the\s+|this\s+)?(morning|arvo|afternoon|lunchtime|lunch|evening|tonight|night)\b",
    re.I,
)
CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?"
AFTER = re.compile(rf"\b(?:after|from|past)\s+{CLOCK}", re.I)
BEFORE = re.compile(rf"\b(?:before|until|till|by)\s+{CLOCK}", re.I)
AT = re.compile(rf"\b(?:at|around|about|@)?\s*{CLOCK}\b", re.I)
FILLER = re.compile(
    r"\b(next|this|coming|on|please|pls|would be|works|work|good|great|ideally|"
    r"maybe|i'?m free|free|any|sometime|some time|is|be|best|for me|the|a|an)\b",
    re.I,
)
WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
SHORT_DAYS = {"mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday",
              "thu": "thursday", "thur": "thursday", "thurs": "thursday",
              "fri": "friday", "sat": "saturday", "sun": "sunday"}  # fmt: skip
SEARCH_DAYS = 7
# A day is said in a few words; longer prefixes are not tried.
MAX_DAY_WORDS = 6


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    label: str


@dataclass(frozen=True)
class Problem:
    """Why a preferred time can't be used; ``reason`` is past, closed or unclear."""

    reason: str
    day: date | None = None


def _clock(hour: str, minute: str | None, meridiem: str | None) -> time | None:
    h, m = int(hour), int(minute or 0)
    if m > 59:
        return None
    meridiem = (meridiem or "").replace(".", "").lower()
    if meridiem == "pm" and h < 12:
        h += 12
    elif meridiem == "am" and h == 12:
        h = 0
    elif not meridiem and 1 <= h <= 6:
        h += 12
    if h > 23:
        return None
    return time(h, m)


def _say(t: time) -> str:
    hour = t.hour % 12 or 12
    minutes = f":{t.minute:02d}" if t.minute else ""
    return f"{hour}{minutes} {'am' if t.hour < 12 else 'pm'}"


def _day_label(d: date) -> str:
    return d.strftime("%a ") + str(d.day) + d.strftime(" %b")


def _requested_span(text: str) -> tuple[tuple[time, time] | None, str, str]:
    """(from, to) of the day the text asks for, its wording, and leftover text."""
    span, wording, rest = None, "", text
    if match := AFTER.search(rest):
        start = _clock(*match.groups())
        if start:
            span, wording = (start, time(23, 59)), f"after {_say(start)}"
        rest = rest[: match.start()] + " " + rest[match.end() :]
    elif match := BEFORE.search(rest):
        end = _clock(*match.groups())
        if end:
            span, wording = (time(0, 0), end), f"before {_say(end)}"
        rest = rest[: match.start()] + " " + rest[match.end() :]
    if match := PART_WORDS.search(rest):
        part = match.group(2).lower()
        part_span = PARTS[part]
        if span is None:
            span = part_span
            wording = (
                "afternoon" if part == "arvo" else part.replace("tonight", "evening")
            )
        rest = rest[: match.start()] + " " + rest[match.end() :]
    if span is None:
        for match in AT.finditer(rest):
            if not (
                match.group(3)
                or re.search(r"\b(at|around|about|@)\s*$", rest[: match.start(1)], re.I)
            ):
                continue
            at = _clock(*match.groups())
            if at:
                end = (datetime.combine(date.today(), at) + timedelta(hours=1)).time()
                span, wording = (at, max(end, at)), f"around {_say(at)}"
                rest = rest[: match.start()] + " " + rest[match.end() :]
                break
    return span, wording, rest


def _day_phrase(rest: str) -> str:
    rest = rest.lower().replace("’", "'")
    for short, full in SHORT_DAYS.items():
        rest = re.sub(rf"\b{short}\b\.?", full, rest)
    rest = re.sub(
        r"\b(tmrw|tmr|tmoz|tomoz|tomorow|tommorow|tommorrow|2moro|2morrow)\b",
        "tomorrow",
        rest,
    )
    rest = FILLER.sub(" ", rest)
    rest = re.sub(r"[^\w\s/-]", " ", rest)
    return re.sub(r"\s+", " ", rest).strip()


def _parse_day(phrase: str, now: datetime) -> date | None:
    if not phrase:
        return None
    if phrase in ("today", "now"):
        return now.date()
    match = re.search(rf"\b({WEEKDAYS})\b", phrase)
    if match and re.sub(rf"\b({WEEKDAYS})\b", "", phrase).strip() == "":
        return _coming(match.group(1), now)
    # "tomorrow at 11 cheers mate": dateparser gives up on the whole phrase,
    # so the words after the day are dropped one by one until it reads one.
    words = phrase.split()
    for end in (len(words), *range(min(len(words) - 1, MAX_DAY_WORDS), 0, -1)):
        parsed = dateparser.parse(
            " ".join(words[:end]),
            languages=["en"],
            settings={
                "PREFER_DATES_FROM": "future",
                "RELATIVE_BASE": now.replace(tzinfo=None),
                "DATE_ORDER": "DMY",
                "PREFER_DAY_OF_MONTH": "first",
            },
        )
        if parsed:
            return parsed.date()
    # "monday if that works": dateparser gives up on the extra words, but the
    # weekday is what the person asked for.
    return _coming(match.group(1), now) if match else None


def _coming(weekday: str, now: datetime) -> date:
    """The next such weekday, today included."""
    ahead = (DAYS.index(weekday[:3]) - now.weekday()) % 7
    return now.date() + timedelta(days=ahead)


def _clip(clinic: Clinic, day: date, span: tuple[time, time], tz: ZoneInfo,
          now: datetime) -> tuple[datetime, datetime] | None:  # fmt: skip
    hours = clinic.opening_hours.get(DAYS[day.weekday()])
    if not hours:
        return None
    start = max(span[0], hours[0])
    end = min(span[1], hours[1])
    if end <= start:
        return None
    start_dt = datetime.combine(day, start, tz)
    end_dt = datetime.combine(day, end, tz)
    if end_dt <= now:
        return None
    return max(start_dt, now.replace(second=0, microsecond=0)), end_dt


def parse_preferred_time(text: str, clinic: Clinic, now: datetime) -> Window | Problem:
    """A window within opening hours for what the person typed, or why not."""
    tz = ZoneInfo(clinic.timezone)
    now = now.astimezone(tz)
    if not text or not text.strip():
        return Problem("unclear")
    if ANY_TIME.search(text):
        return _any_time(clinic, now, tz)
    span, wording, rest = _requested_span(text)
    day = _parse_day(_day_phrase(rest), now)
    if day == now.date() and re.search(
        rf"\bnext\s+({WEEKDAYS}|{'|'.join(SHORT_DAYS)})\b", rest, re.I
    ):
        day += timedelta(days=7)
    if day is None and span is None:
        return Problem("unclear")
    span = span or (time(0, 0), time(23, 59))
    if day is None:
        for offset in range(SEARCH_DAYS):
            candidate = now.date() + timedelta(days=offset)
            if clipped := _clip(clinic, candidate, span, tz, now):
                return _window(clipped, candidate, wording)
        return Problem("closed")
    if day < now.date():
        return Problem("past", day)
    if not clinic.opening_hours.get(DAYS[day.weekday()]):
        return Problem("closed", day)
    clipped = _clip(clinic, day, span, tz, now)
    if clipped is None:
        opening_end = clinic.opening_hours[DAYS[day.weekday()]][1]
        if (
            day == now.date()
            and datetime.combine(day, min(span[1], opening_end), tz) <= now
        ):
            later = day + timedelta(days=7)
            if named_weekday(rest, day) and (
                clipped := _clip(clinic, later, span, tz, now)
            ):
                # "Monday morning" said on a Monday afternoon means next week.
                return _window(clipped, later, wording)
            return Problem("past", day)
        return Problem("closed", day)
    return _window(clipped, day, wording)


def named_weekday(rest: str, day: date) -> bool:
    """The person named the weekday (not "today"), and it is today's."""
    match = re.search(rf"\b({WEEKDAYS}|{'|'.join(SHORT_DAYS)})\b", rest, re.I)
    return bool(match) and DAYS.index(match.group(1).lower()[:3]) == day.weekday()


def _window(clipped: tuple[datetime, datetime], day: date, wording: str) -> Window:
    start, end = clipped
    detail = wording or f"{_say(start.time())}–{_say(end.time())}"
    return Window(start, end, f"{_day_label(day)}, {detail}")


def _any_time(clinic: Clinic, now: datetime, tz: ZoneInfo) -> Window | Problem:
    """From the next opening to the close of the last open day this week."""
    first = last = None
    for offset in range(SEARCH_DAYS):
        day = now.date() + timedelta(days=offset)
        if clipped := _clip(clinic, day, (time(0, 0), time(23, 59)), tz, now):
            first = first or clipped[0]
            last = clipped[1]
    if first is None:
        return Problem("closed")
    return Window(first, last, "any time in the next week")
