"""Preferred times against a fixed clock and the clinic's opening hours."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot import PROJECT_ROOT
from bot.booking.when import Problem, Window, parse_preferred_time
from bot.clinic.facts import load_clinic

BRISBANE = ZoneInfo("Australia/Brisbane")
# Tuesday 24 Nov 2026, 10:30 in Brisbane.
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=BRISBANE)


@pytest.fixture(scope="module")
def clinic():
    return load_clinic(PROJECT_ROOT / "clinic.yml")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BRISBANE)


@pytest.mark.parametrize(
    "text, start, end, label",
    [
        ("tomorrow arvo", at(25, 12), at(25, 17), "Wed 25 Nov, afternoon"),
        ("next Tuesday after 3", at(1, 15, month=12), at(1, 19, month=12),
         "Tue 1 Dec, after 3 pm"),
        ("Monday morning", at(30, 7), at(30, 12), "Mon 30 Nov, morning"),
        ("friday at 2", at(27, 14), at(27, 15), "Fri 27 Nov, around 2 pm"),
        ("3pm thursday", at(26, 15), at(26, 16), "Thu 26 Nov, around 3 pm"),
        ("Wed 10am", at(25, 10), at(25, 11), "Wed 25 Nov, around 10 am"),
        ("tues arvo pls", at(24, 12), at(24, 17), "Tue 24 Nov, afternoon"),
        ("after 4", at(24, 16), at(24, 19), "Tue 24 Nov, after 4 pm"),
        ("1 dec morning", at(1, 7, month=12), at(1, 12, month=12),
         "Tue 1 Dec, morning"),
        ("saturday", at(28, 8), at(28, 12), "Sat 28 Nov, 8 am–12 pm"),
        ("monday morning if that works", at(30, 7), at(30, 12),
         "Mon 30 Nov, morning"),
        ("Monday morning, my knee is sore", at(30, 7), at(30, 12),
         "Mon 30 Nov, morning"),
        ("thursday arvo would be great thanks", at(26, 12), at(26, 17),
         "Thu 26 Nov, afternoon"),
    ],
)  # fmt: skip
def test_windows_in_clinic_time(clinic, text, start, end, label):
    result = parse_preferred_time(text, clinic, NOW)
    assert result == Window(start, end, label)


def test_any_time_spans_the_coming_week(clinic):
    result = parse_preferred_time("any time", clinic, NOW)
    assert isinstance(result, Window)
    assert result.start == NOW and result.end == at(30, 19)


def test_now_is_taken_in_the_clinic_time_zone(clinic):
    utc_now = NOW.astimezone(ZoneInfo("UTC"))
    assert parse_preferred_time("tomorrow arvo", clinic, utc_now).start == at(25, 12)


def test_earlier_today_is_clipped_to_now(clinic):
    result = parse_preferred_time("today", clinic, NOW)
    assert result.start == NOW and result.end == at(24, 19)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("sunday", "closed"),
        ("saturday after 3", "closed"),
        ("today before 9", "past"),
        ("yesterday", "past"),
        ("tuesday at 8pm", "closed"),
        ("blah", "unclear"),
        ("", "unclear"),
    ],
)
def test_times_that_cannot_be_used(clinic, text, reason):
    result = parse_preferred_time(text, clinic, NOW)
    assert isinstance(result, Problem) and result.reason == reason


@pytest.mark.parametrize(
    "text, label",
    [
        ("Tuesday morning", "Tue 1 Dec, morning"),
        ("tues at 9", "Tue 1 Dec, around 9 am"),
    ],
)
def test_todays_weekday_whose_time_has_passed_means_next_week(clinic, text, label):
    """Said on a Tuesday afternoon: this morning is gone, so the person means
    next Tuesday (it once got "that's in the past")."""
    window = parse_preferred_time(text, clinic, at(24, 13))
    assert isinstance(window, Window) and window.label == label


def test_today_whose_time_has_passed_is_still_the_past(clinic):
    assert parse_preferred_time("today at 9", clinic, NOW) == Problem(
        "past", NOW.date()
    )


@pytest.mark.parametrize(
    "text, day",
    [
        ("tomorrow at 9am zzzz qwerty", 25),
        ("tomorrow at 9am <b>hi</b>", 25),
        ("tomorrow at 9am if that's ok with you guys", 25),
        ("tomorrow 9am sorry for the slow reply", 25),
        ("tomorrow at 11 cheers mate", 25),
        ("friday at 2 thanks heaps!!", 27),
        ("ok so thursday afternoon maybe", 26),
        ("Wed 10am, I may be a bit late", 25),
    ],
)
def test_words_after_the_time_do_not_move_the_day(clinic, text, day):
    """The day said first is the day meant; what follows it is chat."""
    window = parse_preferred_time(text, clinic, NOW)
    assert isinstance(window, Window), window
    assert window.start.date() == at(day, 0).date(), window


def test_trailing_words_alone_are_not_a_day(clinic):
    window = parse_preferred_time("at 11 I may be a bit late", clinic, NOW)
    assert isinstance(window, Window) and window.start.date() == NOW.date(), window
