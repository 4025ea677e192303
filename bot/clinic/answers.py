"""Answers about the clinic itself, from ``clinic.yml`` only.

Each answer is a list of ``(response name, template values)`` for the
domain's ``utter_clinic_*`` responses, so the wording stays in the domain
and the facts stay in the clinic's file. A fact the clinic left empty is
never guessed: the answer asks people to call the clinic.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clinic.facts import DAYS, Clinic, _clock

Reply = tuple[str, dict[str, str]]

DAY_WORDS = {
    "mon": r"mon(day)?s?",
    "tue": r"tue(s|sday)?s?",
    "wed": r"wed(nesday)?s?",
    "thu": r"thu(r|rs|rsday)?s?",
    "fri": r"fri(day)?s?",
    "sat": r"sat(urday)?s?|weekends?",
    "sun": r"sun(day)?s?",
}
FULL_DAY = dict(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
HOLIDAY = re.compile(
    r"public holiday|holidays?\b|christmas|xmas|easter|anzac|new year|boxing day",
    re.I,
)
NOW = re.compile(r"\b(now|right now|at the moment|currently|still open)\b", re.I)
TODAY = re.compile(r"\b(today|tonight|this (arvo|afternoon|evening|morning))\b", re.I)
TOMORROW = re.compile(r"\b(tomorrow|tmrw|tmr)\b", re.I)
PARKING = re.compile(r"\bpark(ing)?\b|\bcar ?park\b|\bdrive\b", re.I)
TRANSPORT = re.compile(
    r"\b(bus(es)?|train|tram|station|public transport|ferry|transit)\b", re.I
)
PAYMENT = re.compile(
    r"\b(pay|paying|payment|card|cards|cash|eftpos|credit|debit|afterpay|amex)\b",
    re.I,
)
NEEDLING = re.compile(r"needl", re.I)
SCHEMES = {
    "hicaps": re.compile(r"hicaps|on the spot|claim (it )?straight away", re.I),
    "medicare": re.compile(
        r"medicare|care plan|\bepc\b|\bcdm\b|chronic disease|gp plan|bulk ?bill", re.I
    ),
    "dva": re.compile(r"\bdva\b|veteran|gold card|white card", re.I),
    "workcover": re.compile(r"work ?cover|workers'? comp|work(place)? injury", re.I),
    "ctp": re.compile(r"\bctp\b|car accident|third party|motor vehicle|\bmva\b", re.I),
    "private_health": re.compile(
        r"health fund|private|insurance|insurer|extras|bupa|medibank|\bhcf\b|\bnib\b"
        r"|\bahm\b|\bgmhba\b|\bhbf\b|rebate|\bgap\b|\bfund\b",
        re.I,
    ),
}
SCHEME_NAMES = {
    "private_health": "private health insurance",
    "hicaps": "HICAPS",
    "medicare": "Medicare",
    "dva": "DVA",
    "workcover": "WorkCover",
    "ctp": "CTP claims",
}


def call_us(clinic: Clinic, topic: str) -> Reply:
    return "utter_clinic_call_us", {"topic": topic, "phone": clinic.phone}


def days_named(text: str) -> list[str]:
    return [
        day
        for day, pattern in DAY_WORDS.items()
        if re.search(rf"\b({pattern})\b", text, re.I)
    ]


def hours_on(clinic: Clinic, day: str) -> str | None:
    hours = clinic.opening_hours.get(day)
    return f"{_clock(hours[0])}–{_clock(hours[1])}" if hours else None


def next_opening(clinic: Clinic, local: datetime) -> str | None:
    """When the clinic opens next, e.g. "today at 7 am" or "on Monday at 7 am"."""
    for ahead in range(8):
        when = local + timedelta(days=ahead)
        hours = clinic.opening_hours.get(DAYS[when.weekday()])
        if not hours or (ahead == 0 and local.time() >= hours[0]):
            continue
        day = (
            "today"
            if ahead == 0
            else "tomorrow"
            if ahead == 1
            else f"on {FULL_DAY[DAYS[when.weekday()]]}"
        )
        return f"{day} at {_clock(hours[0])}"
    return None


def hours(clinic: Clinic, text: str, now: datetime) -> list[Reply]:
    """Open now, on a named day, today, tomorrow, public holidays, or all."""
    local = now.astimezone(ZoneInfo(clinic.timezone))
    today = DAYS[local.weekday()]
    tomorrow = DAYS[(local.weekday() + 1) % 7]
    replies: list[Reply] = []
    if HOLIDAY.search(text):
        if not clinic.public_holidays:
            return [call_us(clinic, "opening hours on public holidays")]
        replies.append(("utter_clinic_text", {"text": clinic.public_holidays}))
        if not days_named(text) and not NOW.search(text):
            return replies
    if NOW.search(text):
        open_hours = clinic.opening_hours.get(today)
        if open_hours and open_hours[0] <= local.time() < open_hours[1]:
            replies.append(("utter_clinic_open_now", {"closes": _clock(open_hours[1])}))
        else:
            opens = next_opening(clinic, local)
            replies.append(
                ("utter_clinic_closed_now", {"opens": opens or "by appointment"})
            )
        return replies
    asked = days_named(text)
    if TODAY.search(text):
        asked.insert(0, today)
    if TOMORROW.search(text):
        asked.insert(0, tomorrow)
    for day in dict.fromkeys(asked):
        day_hours = hours_on(clinic, day)
        name = f"on {FULL_DAY[day]}"
        if day == today and TODAY.search(text):
            name = "today"
        elif day == tomorrow and TOMORROW.search(text):
            name = "tomorrow"
        if day_hours:
            replies.append(
                ("utter_clinic_day_hours", {"day": name, "hours": day_hours})
            )
        else:
            replies.append(("utter_clinic_day_closed", {"day": name}))
    if not replies:
        replies.append(("utter_clinic_hours", {"hours": clinic.hours_text()}))
    return replies


def location(clinic: Clinic, text: str) -> list[Reply]:
    wants_parking, wants_transport = PARKING.search(text), TRANSPORT.search(text)
    replies: list[Reply] = []
    if not (wants_parking or wants_transport):
        replies.append(("utter_clinic_address", {"address": clinic.address}))
    for wanted, fact, topic in (
        (wants_parking, clinic.parking, "parking"),
        (wants_transport, clinic.public_transport, "getting here by public transport"),
    ):
        if wanted:
            replies.append(
                ("utter_clinic_text", {"text": fact})
                if fact
                else call_us(clinic, topic)
            )
    if wants_parking or wants_transport:
        replies.append(("utter_clinic_address", {"address": clinic.address}))
    return replies


def contact(clinic: Clinic) -> list[Reply]:
    if clinic.email:
        return [
            ("utter_clinic_contact", {"phone": clinic.phone, "email": clinic.email})
        ]
    return [("utter_clinic_phone", {"phone": clinic.phone})]


def cost(clinic: Clinic, text: str) -> list[Reply]:
    replies: list[Reply] = []
    if PAYMENT.search(text):
        if clinic.payment_methods:
            methods = ", ".join(clinic.payment_methods[:-1])
            methods = (
                f"{methods} or {clinic.payment_methods[-1]}"
                if methods
                else clinic.payment_methods[-1]
            )
            replies.append(("utter_clinic_payment", {"methods": methods}))
        else:
            replies.append(call_us(clinic, "ways to pay"))
        if not re.search(r"how much|cost|price|fee|charge|\$", text, re.I):
            return replies
    if clinic.prices:
        replies.append(
            (
                "utter_clinic_prices",
                {"prices": "\n".join(f"• {p}" for p in clinic.prices)},
            )
        )
    else:
        replies.append(call_us(clinic, "prices"))
    if NEEDLING.search(text):
        replies.append(
            ("utter_clinic_text", {"text": clinic.needling_cost})
            if clinic.needling_cost
            else call_us(clinic, "what dry needling costs")
        )
    return replies


def rebates(clinic: Clinic, text: str) -> list[Reply]:
    """The schemes named, else all the clinic lists; an unnamed or unknown
    scheme (NDIS, overseas cover) gets the clinic's phone number."""
    named = [scheme for scheme, pattern in SCHEMES.items() if pattern.search(text)]
    if "hicaps" in named and "private_health" in named:
        named.remove("private_health")
    if not named:
        if re.search(r"ndis|overseas|oshc|travel insurance|concession", text, re.I):
            return [call_us(clinic, "that scheme")]
        named = list(clinic.rebates) or ["private_health"]
    replies: list[Reply] = []
    for scheme in named:
        fact = clinic.rebates.get(scheme)
        replies.append(
            ("utter_clinic_text", {"text": fact})
            if fact
            else call_us(clinic, SCHEME_NAMES[scheme])
        )
    return replies


def referral(clinic: Clinic) -> list[Reply]:
    if clinic.referral:
        return [("utter_clinic_text", {"text": clinic.referral})]
    return [call_us(clinic, "whether you need a referral")]


def what_to_bring(clinic: Clinic) -> list[Reply]:
    replies: list[Reply] = [
        ("utter_clinic_text", {"text": fact})
        for fact in (clinic.what_to_wear, clinic.what_to_bring)
        if fact
    ]
    return replies or [call_us(clinic, "what to bring and wear")]


def answer(intent: str, text: str, clinic: Clinic, now: datetime) -> list[Reply]:
    """The replies for one clinic question."""
    text = text or ""
    if intent == "clinic_hours":
        return hours(clinic, text, now)
    if intent == "clinic_location":
        return location(clinic, text)
    if intent == "clinic_contact":
        return contact(clinic)
    if intent == "clinic_cost":
        return cost(clinic, text)
    if intent == "clinic_rebates":
        return rebates(clinic, text)
    if intent == "clinic_referral":
        return referral(clinic)
    if intent == "what_to_bring":
        return what_to_bring(clinic)
    raise ValueError(f"not a clinic question: {intent}")


CLINIC_INTENTS = (
    "clinic_hours",
    "clinic_location",
    "clinic_contact",
    "clinic_cost",
    "clinic_rebates",
    "clinic_referral",
    "what_to_bring",
)
