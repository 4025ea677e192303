"""Answers about the clinic come from its settings file, and a fact it left
empty is never guessed."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot import PROJECT_ROOT
from bot.clinic.answers import answer
from bot.clinic.facts import load_clinic

BRISBANE = ZoneInfo("Australia/Brisbane")
# A Wednesday in the clinic's time zone.
WED_10AM = datetime(2026, 12, 2, 10, 0, tzinfo=BRISBANE)
WED_9PM = datetime(2026, 12, 2, 21, 0, tzinfo=BRISBANE)
SAT_1PM = datetime(2026, 12, 5, 13, 0, tzinfo=BRISBANE)


@pytest.fixture
def clinic():
    return load_clinic(PROJECT_ROOT / "clinic.yml")


def empty(clinic, **fields):
    """The clinic with fields left empty, as a clinic may ship it."""
    return dataclasses.replace(clinic, **fields)


def test_open_now_uses_the_clinics_time_zone_and_hours(clinic):
    [(name, values)] = answer("clinic_hours", "are you open now?", clinic, WED_10AM)
    assert name == "utter_clinic_open_now" and values["closes"] == "7 pm"
    # 10:00 UTC is 8 pm in Brisbane: closed, opening tomorrow (Thursday).
    utc = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("UTC"))
    [(name, values)] = answer("clinic_hours", "r u open atm? now?", clinic, utc)
    assert name == "utter_clinic_closed_now"
    assert values["opens"] == "tomorrow at 7 am"


def test_closed_on_saturday_afternoon_opens_on_monday(clinic):
    [(name, values)] = answer("clinic_hours", "open right now?", clinic, SAT_1PM)
    assert (name, values) == ("utter_clinic_closed_now", {"opens": "on Monday at 7 am"})


@pytest.mark.parametrize(
    "question, expected",
    [
        ("are you open on saturday", ("utter_clinic_day_hours", "on Saturday")),
        ("Open Sundays?", ("utter_clinic_day_closed", "on Sunday")),
        ("what time do you close today", ("utter_clinic_day_hours", "today")),
        ("are you open tomorrow", ("utter_clinic_day_hours", "tomorrow")),
    ],
)
def test_a_named_day(clinic, question, expected):
    [(name, values)] = answer("clinic_hours", question, clinic, WED_10AM)
    assert (name, values["day"]) == expected


def test_general_hours_and_public_holidays(clinic):
    [(name, values)] = answer("clinic_hours", "what are your hours", clinic, WED_10AM)
    assert name == "utter_clinic_hours" and "Sat 8 am–12 pm" in values["hours"]
    [(name, values)] = answer(
        "clinic_hours", "open on public holidays?", clinic, WED_10AM
    )
    assert values["text"] == clinic.public_holidays
    [(name, values)] = answer(
        "clinic_hours",
        "open on anzac day?",
        empty(clinic, public_holidays=None),
        WED_10AM,
    )
    assert name == "utter_clinic_call_us" and values["phone"] == clinic.phone


def test_location_parking_and_transport(clinic):
    [(name, values)] = answer("clinic_location", "where are you", clinic, WED_10AM)
    assert values["address"] == clinic.address
    replies = answer("clinic_location", "is there parking?", clinic, WED_10AM)
    assert replies[0] == ("utter_clinic_text", {"text": clinic.parking})
    replies = answer(
        "clinic_location",
        "which bus gets me there",
        empty(clinic, public_transport=None),
        WED_10AM,
    )
    assert replies[0][0] == "utter_clinic_call_us"


def test_contact_gives_phone_and_email(clinic):
    [(name, values)] = answer("clinic_contact", "phone number?", clinic, WED_10AM)
    assert values == {"phone": clinic.phone, "email": clinic.email}
    [(name, values)] = answer(
        "clinic_contact", "email?", empty(clinic, email=None), WED_10AM
    )
    assert name == "utter_clinic_phone"


def test_cost_lists_prices_and_says_whether_needling_costs_extra(clinic):
    replies = answer("clinic_cost", "how much is dry needling", clinic, WED_10AM)
    assert replies[0][0] == "utter_clinic_prices"
    assert all(p in replies[0][1]["prices"] for p in clinic.prices)
    assert ("utter_clinic_text", {"text": clinic.needling_cost}) in replies
    [(name, values)] = answer("clinic_cost", "can I pay by card?", clinic, WED_10AM)
    assert name == "utter_clinic_payment" and "EFTPOS" in values["methods"]


def test_cost_with_nothing_filled_in_never_guesses(clinic):
    bare = empty(clinic, prices=(), needling_cost=None, payment_methods=())
    for question in ("how much does it cost", "is needling extra?", "do you take cash"):
        replies = answer("clinic_cost", question, bare, WED_10AM)
        assert {name for name, _ in replies} == {"utter_clinic_call_us"}, question


@pytest.mark.parametrize(
    "question, scheme",
    [
        ("can I claim on bupa", "private_health"),
        ("do you have hicaps", "hicaps"),
        ("I have a GP care plan, is it covered by medicare?", "medicare"),
        ("do you take DVA gold card", "dva"),
        ("is it covered under workers comp", "workcover"),
        ("I was in a car accident, can CTP pay", "ctp"),
    ],
)
def test_rebates_answer_the_scheme_named(clinic, question, scheme):
    [(name, values)] = answer("clinic_rebates", question, clinic, WED_10AM)
    assert values["text"] == clinic.rebates[scheme]


def test_rebates_for_an_unknown_or_empty_scheme_send_people_to_reception(clinic):
    [(name, _)] = answer("clinic_rebates", "can I use my NDIS plan", clinic, WED_10AM)
    assert name == "utter_clinic_call_us"
    [(name, values)] = answer(
        "clinic_rebates", "dva?", empty(clinic, rebates={}), WED_10AM
    )
    assert name == "utter_clinic_call_us" and values["topic"] == "DVA"


def test_referral_and_what_to_bring(clinic):
    [(_, values)] = answer("clinic_referral", "do I need a referral", clinic, WED_10AM)
    assert values["text"] == clinic.referral
    replies = answer("what_to_bring", "what should I wear", clinic, WED_10AM)
    assert [v["text"] for _, v in replies] == [
        clinic.what_to_wear,
        clinic.what_to_bring,
    ]
    bare = empty(clinic, what_to_wear=None, what_to_bring=None, referral=None)
    assert answer("what_to_bring", "what to bring", bare, WED_10AM)[0][0] == (
        "utter_clinic_call_us"
    )
    assert answer("clinic_referral", "referral?", bare, WED_10AM)[0][0] == (
        "utter_clinic_call_us"
    )


def test_every_clinic_field_in_the_shipped_file_is_marked_example():
    from bot import PROJECT_ROOT

    lines = (PROJECT_ROOT / "clinic.yml").read_text().splitlines()
    keys = "email public_holidays parking public_transport prices needling_cost"
    keys += " payment_methods rebates referral what_to_wear what_to_bring session_plan"
    for key in (f"{k}:" for k in keys.split()):
        [line] = [x for x in lines if x.startswith(key)]
        assert "# EXAMPLE" in line, key
