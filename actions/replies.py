"""Reading the patient's replies to the booking form: skips, yes and no,
a change asked for, a concern, a phone or email inside a sentence, and the
other details a message carried."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker

from bot.booking.contact import normalise_email, normalise_phone
from bot.nlp.details import find_email, find_phone, given, tidy

SKIP = re.compile(
    r"^\s*(skip|no|nope|nah|none|no email|no thanks|don'?t have (one|an email)|"
    r"rather not( say)?|n/?a|-)\s*[.!]*\s*$",
    re.I,
)
YES = re.compile(
    r"^\s*(/affirm|y|yes|yep|yeah|yup|sure|ok|okay|correct|confirm|"
    r"that'?s (right|correct)|all good|go ahead|yes please)\b",
    re.I,
)
NO = re.compile(r"^\s*(/deny|n|no|nope|nah|don'?t|do not|cancel)\b", re.I)
CHANGES = {
    "phone": re.compile(r"\b(number|phone|mobile|mob|ph)\b", re.I),
    "email": re.compile(r"\b(e-?mail|address)\b", re.I),
    "preferred_time": re.compile(r"\b(time|day|date|when|morning|arvo)\b", re.I),
    "concern": re.compile(r"\b(concern|reason|problem|help with|injury|pain)\b", re.I),
    "first_name": re.compile(r"\bname\b", re.I),
}
CHANGE_WORDS = re.compile(r"\b(change|wrong|fix|update|edit|correct|actually)\b", re.I)


def clean_concern(text: str) -> str | None:
    concern = re.sub(r"\s+", " ", tidy(text)).strip()
    if len(concern) < 2 or not re.search(r"[^\W\d_]", concern):
        return None
    if YES.fullmatch(concern) or NO.fullmatch(concern) or SKIP.match(concern):
        return None
    return concern[:300]


def phone_in(value: Any) -> str | None:
    """An Australian number from "0412 345 678", "mobile: 0412 345 678" or
    "ring me on 0412 345 678 after 5"."""
    text = tidy(str(value or ""))
    if phone := normalise_phone(text):
        return phone
    found = find_phone(text)
    return found.value if found else None


DETAIL_SLOTS = {
    "person_name": "first_name",
    "phone_number": "phone",
    "email_address": "email",
    "time_phrase": "preferred_time",
    "concern_phrase": "concern",
}


def gave_other_details(slot: str, tracker: Tracker) -> bool:
    """Whether the latest message carried a detail for another slot."""
    return bool(set(details_given(tracker)) - {slot})


# Words that carry no concern of their own: "actually make that Thursday
# morning", "can you change it to 0412 345 678 please".
FILLER = frozenset(
    "a about actually an and at be but can change could do for hmm i i'm in "
    "instead is it it's just let's make maybe me mean my no oh ok okay on or "
    "please prefer rather so sorry that the then there to um wait we would "
    "yeah".split()
)


def only_other_details(slot: str, tracker: Tracker) -> bool:
    """Whether the latest message is another slot's detail plus filler
    words: an answer to a different question, not an answer to ``slot``."""
    text = str(tracker.latest_message.get("text") or "")
    spans = [
        (entity["start"], entity["end"])
        for entity in tracker.latest_message.get("entities") or []
        if DETAIL_SLOTS.get(entity.get("entity")) not in (None, slot)
        and isinstance(entity.get("start"), int)
        and isinstance(entity.get("end"), int)
    ]
    if not spans:
        return False
    for start, end in sorted(spans, reverse=True):
        text = f"{text[:start]} {text[end:]}"
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())
    return all(word in FILLER for word in words)


def details_given(tracker: Tracker) -> dict[str, str]:
    """slot -> the detail the latest message gave for it, by its entities."""
    return {
        DETAIL_SLOTS[entity]: value
        for entity, value in given(tracker.latest_message).items()
        if entity in DETAIL_SLOTS
    }


def email_in(value: Any) -> str | None:
    """An email address from "jo@example.com" or "it's jo@example.com"; an
    answer with two addresses in it is ambiguous (or a header injection)."""
    text = tidy(str(value or "")).strip()
    if email := normalise_email(text):
        return email
    if "\n" in text or "\r" in text or text.count("@") != 1:
        return None
    found = find_email(text)
    return found.value if found else None


def requested_change(text: str) -> str | None:
    """Which slot "change my number" and the like asks to edit."""
    if not CHANGE_WORDS.search(text or ""):
        return None
    for slot, pattern in CHANGES.items():
        if pattern.search(text):
            return slot
    return None
