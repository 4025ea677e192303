"""Contact details, a preferred time and a concern, found in free text.

Patients give details before they are asked ("Hey, Ben here, 0422 111 333,
can I get in Friday morning for my shoulder?"). This module finds them so the
booking form only asks for what is missing. It is plain Python (regular
expressions; the time itself is read by ``bot.booking.when``), used by the NLU
component below to add entities, and by the form's checks when an answer holds
more than the value asked for ("it's Tom, 0412 345 678").

Names are the delicate part: "I'm Ben" names someone, "I'm sore" does not. A
name after "my name is" is taken as written; after "I'm", "this is", "it's" or
before "here" it must be capitalised or not an English word, and never one of
the words people use to describe themselves.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.booking.contact import normalise_email, normalise_phone

# What the booking form stores, and the finder gives, for "no email".
NO_EMAIL = "none"
# The entities the details finder gives.
DETAIL_ENTITIES = ("person_name", "phone_number", "email_address", "time_phrase")

# Letters with inner apostrophes or hyphens: O'Brien-Smith, D'Souza, Nguyễn.
NAME_WORD = r"[^\W\d_](?:[^\W\d_]|['’\-](?=[^\W\d_]))*"
NAME_WORD_RE = re.compile(NAME_WORD)
PHONE_CANDIDATE = re.compile(r"(?<![\w+@])\+?\(?\d[\d\s().\-]{5,18}\d(?![\w@])")
EMAIL_CANDIDATE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
GREETING = r"(?:(?:hi|hey|hello|hiya|g'?day|morning|afternoon|evening|yo)\b[\s,!.\-]*)?"
QUESTION_WORDS = (
    r"(?:what|whats|what's|how|is|are|does|do|can|could|will|would|should|who|"
    r"where|when|why|which|any|anything|tell)"
)
# Words that end a name: "my name is Tom and ...", "Tom, 0412 ...".
NAME_STOP = frozenset(
    """and or but my i im i'm from here with for at on in the a an is was can could
    would please pls thanks thank cheers number phone mobile mob email e-mail ph
    tel i'd i've id ive looking wanting want need calling ringing about re
    regarding, also just so by to of not but sorry typo actually""".split()
)
# What follows "I'm" when it is not a name.
NOT_NAMES = frozenset(
    """yes no yeah yep nah ok okay thanks hi hello hey sore stiff tight sorry
    pregnant scared afraid nervous worried anxious keen interested looking
    wondering after trying hoping calling ringing asking writing just not so
    very really still also in on at a an the from with about here there back
    fine good great well unwell sick ill injured hurt hurting bad better worse
    new old over under done finished ready free available busy happy sad tired
    exhausted young older getting going coming having feeling thinking
    struggling suffering dealing training running playing working living
    currently always never actually only already ex diabetic epileptic
    breastfeeding nursing allergic terrified petrified frightened unsure
    confused curious considering planning booked booking able unable told
    sure certain concerned desperate needing wanting aged age years male female
    physio patient mum dad mother father parent client member athlete runner
    your you me him her them it this that what who how why when where which
    monday tuesday wednesday thursday friday saturday sunday today tomorrow
    tonight morning arvo afternoon evening week weekend""".split()
)
PAIN_WORDS = re.compile(
    r"\b(pain|pains|painful|ache|aches|aching|achy|sore|soreness|stiff|"
    r"stiffness|tight|tightness|injury|injured|strain|strained|sprain|sprained|"
    r"knot|knots|spasm|spasms|tendon\w*|niggle|niggly|dodgy|crook|problem|issue|"
    r"itis)\b|itis\b",
    re.I,
)
CONCERN = re.compile(
    r"\b(?:for|with|about|re|regarding|because of|cos of|coz of)\s+"
    r"(?:my|a|an|the|some|this|his|her|their)\s+"
    r"([^,.;:!?\n]{2,60}?)"
    r"(?=\s*(?:[,.;:!?\n]|$|\band\b|\bplease\b|\bpls\b|\bthanks\b|\bif\b|\bbut\b|"
    r"\bsince\b|\bthat\b|\bwhich\b|\bon\b|\bat\b|\bnext\b|\bthis\b|\btomorrow\b|"
    r"\btoday\b|\bmy name\b|\bi'?m\b))",
    re.I,
)

_DAY = (
    r"(?:today|tomorrow|tmrw|tmr|tomoz|tonight|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"mon|tues?|weds?|thu(?:rs?)?|fri|sat|sun)"
)
_PART = r"(?:morning|mornings|arvo|afternoon|evening|lunchtime|lunch|night)"
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|"
    r"aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_CLOCK = r"\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)"
_AT = (
    r"(?:at|after|before|around|from|by|about|@)\s*"
    r"\d{1,2}(?:[:.]\d{2})?(?:\s*(?:am|pm))?"
)
TIME_ANCHOR = re.compile(
    r"\b(?:"
    rf"(?:next|this|coming)\s+(?:week|weekend|{_DAY}|{_PART})|"
    r"this\s+arvo|any\s*time|whenever|asap|as soon as possible|first available|"
    r"earliest|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?|"
    rf"\d{{1,2}}/\d{{1,2}}|{_DAY}|{_PART}|{_CLOCK}"
    r")\b"
    rf"|(?<![\w])(?:{_AT})\b",
    re.I,
)
# Short day names that are also English words need a neighbour to count.
AMBIGUOUS_DAYS = re.compile(r"^(?:sat|sun|wed|mon)$", re.I)
TIME_GLUE = re.compile(
    r"^[\s,]*(?:(?:on|in|the|at|or|and|next|this|coming|after|before|around|from|"
    r"about|-|ish|maybe|any|sometime|some time|time)\b[\s,]*)*$",
    re.I,
)


@dataclass(frozen=True)
class Found:
    """A detail and where it sits in the text."""

    entity: str
    value: str
    start: int
    end: int

    def as_entity(self, extractor: str) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "extractor": extractor,
        }


def tidy(text: str) -> str:
    """NFKC (full-width letters become plain), curly quotes straight."""
    return unicodedata.normalize("NFKC", text or "").replace("’", "'")


def find_phone(text: str) -> Found | None:
    for match in PHONE_CANDIDATE.finditer(text):
        phone = normalise_phone(match.group(0))
        if phone:
            return Found("phone_number", phone, match.start(), match.end())
    return None


def find_email(text: str) -> Found | None:
    for match in EMAIL_CANDIDATE.finditer(text):
        email = normalise_email(match.group(0).rstrip("."))
        if email:
            return Found("email_address", email, match.start(), match.end())
    return None


# "no email", "I don't have an email", "without email": the optional email
# answered in a message that gives the other details.
SAYS_NO_EMAIL = re.compile(
    r"\b(?:no\s+e-?mail(?:\s+address)?|(?:i\s+)?(?:don'?t|do\s+not)\s+have\s+"
    r"(?:an?\s+)?e-?mail(?:\s+address)?|without\s+(?:an?\s+)?e-?mail)\b",
    re.I,
)


def find_no_email(text: str) -> Found | None:
    """Saying there is no email address: the value the booking form stores
    for a skipped email (``NO_EMAIL``)."""
    match = SAYS_NO_EMAIL.search(text)
    return (
        Found("email_address", NO_EMAIL, match.start(), match.end()) if match else None
    )


def given(message: dict) -> dict[str, str]:
    """The details a parsed message carried, by entity name: the first
    non-empty value of each."""
    found: dict[str, str] = {}
    for entity in message.get("entities") or []:
        name, value = entity.get("entity"), entity.get("value")
        if name in DETAIL_ENTITIES and name not in found and value:
            found[name] = str(value)
    return found


def _title(name: str) -> str:
    """Capitalise words typed in lower case (o'brien-smith: O'Brien-Smith);
    leave the person's own capitals alone (McDonald, van der Berg)."""
    return " ".join(
        re.sub(r"(^|['\-])([^\W\d_])", lambda m: m.group(1) + m.group(2).upper(), w)
        if w.islower()
        else w
        for w in name.split()
    )


# A direct answer to "What's your first name?": up to four name words.
MAX_NAME = 40
NAME_ANSWER = re.compile(rf"^{NAME_WORD}(?:\s+{NAME_WORD}){{0,3}}$")
NAME_PREFIX = re.compile(
    r"^\s*(?:hi|hey|hello)?[,!\s]*(?:it'?s|i'?m|i am|im|my name is|my name'?s|"
    r"name'?s|this is|call me|name\s*:?)\s+",
    re.I,
)
NOT_A_NAME_ANSWER = frozenset(
    "yes no yeah nah nope yep ok okay thanks hi hello hey skip stop cancel".split()
)


def clean_name(text: str, vocabulary: frozenset | None = None) -> str | None:
    """The name in an answer to "What's your first name?", tidied, or None.

    Accepts "Zoe O'Brien-Smith", "José", "Nguyễn Văn An", "李华", full-width
    letters and decomposed accents; "it's Tom" and "Tom, 0412 345 678" give Tom.
    """
    text = unicodedata.normalize("NFC", tidy(text)).strip().strip(".!").strip()
    candidate = NAME_PREFIX.sub("", text).strip().strip(".!").strip()
    if (
        candidate
        and len(candidate) <= MAX_NAME
        and NAME_ANSWER.match(candidate)
        and candidate.lower() not in NOT_A_NAME_ANSWER
    ):
        return _title(re.sub(r"\s+", " ", candidate))
    found = find_name(text, vocabulary)
    if found is not None and len(found.value) > MAX_NAME:
        return None
    if found is None:
        lead, _ = _name_words(text, 0, 3)
        rest = text[len(" ".join(lead)) :].lstrip() if lead else ""
        # "Tom, 0412 345 678": a name, then other details; not "Tom; DROP".
        if (
            lead
            and rest[:1] == ","
            and (find_phone(rest) or find_email(rest))
            and " ".join(lead) == text[: len(" ".join(lead))]
        ):
            candidate = " ".join(lead)
            if (
                candidate.lower() not in NOT_A_NAME_ANSWER
                and len(candidate) <= MAX_NAME
            ):
                return _title(candidate)
        return None
    return found.value


def _name_words(text: str, start: int, most: int) -> tuple[list[str], int]:
    """Up to ``most`` name words from ``start``, stopping at any other word."""
    words: list[str] = []
    end = start
    position = start
    while len(words) < most:
        gap = re.match(r"[ \t]*", text[position:])
        match = NAME_WORD_RE.match(text, position + gap.end())
        if not match or match.group(0).lower() in NAME_STOP:
            break
        words.append(match.group(0))
        end = position = match.end()
    return words, end


def _plausible(word: str, vocabulary: frozenset | None) -> bool:
    """A name after "I'm" or before "here": not a word people describe
    themselves with, and capitalised or not an English word."""
    lower = word.lower()
    if lower in NOT_NAMES or lower in NAME_STOP:
        return False
    if word[:1].isupper() and not word.isupper():
        return True
    if not word[:1].isalpha() or not word[:1].isascii():
        return True
    return vocabulary is not None and lower not in vocabulary


STATED_NAME = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name'?s|my\s+names|name'?s|name\s+is|name\s*:|"
    r"first\s+name\s+is|first\s+name'?s|first\s+name\s*:|call\s+me)\s*",
    re.I,
)
SELF_NAME = re.compile(
    rf"(?:^{GREETING}|[.!?,;]\s*|\band\s+)(?:i'?m|i\s+am|im|this\s+is|it'?s|its)\s+",
    re.I,
)
HERE_NAME = re.compile(
    rf"^{GREETING}({NAME_WORD}(?:\s+{NAME_WORD})?)\s+(?:here|speaking)\b", re.I
)


def find_name(text: str, vocabulary: frozenset | None = None) -> Found | None:
    """A first name the person gave for themselves, or None."""
    for match in STATED_NAME.finditer(text):
        words, end = _name_words(text, match.end(), 3)
        if words and words[0].lower() not in NOT_NAMES:
            if match.group(0).lower().startswith("call") and not _plausible(
                words[0], vocabulary
            ):
                continue
            return Found("person_name", _title(" ".join(words)), match.end(), end)
    if match := HERE_NAME.match(text):
        words = match.group(1).split()
        if all(_plausible(w, vocabulary) for w in words):
            return Found(
                "person_name", _title(" ".join(words)), match.start(1), match.end(1)
            )
    for match in SELF_NAME.finditer(text):
        words, end = _name_words(text, match.end(), 2)
        if not words or not _plausible(words[0], vocabulary):
            continue
        if len(words) == 2 and not _plausible(words[1], vocabulary):
            words = words[:1]
            end = match.end() + len(words[0])
        following = text[end:].lstrip()
        if following and not re.match(
            r"^(?:[,.!;:\-]|and\b|here\b|from\b|by\b|my\b|i\b|$)", following, re.I
        ):
            continue
        return Found("person_name", _title(" ".join(words)), match.end(), end)
    return None


def find_time(text: str) -> Found | None:
    """The first stretch of text that names a day or time ("Friday morning",
    "tomorrow at 9am", "next week"); reading it is bot.booking.when's job."""
    anchors = [
        m
        for m in TIME_ANCHOR.finditer(text)
        if not (AMBIGUOUS_DAYS.match(m.group(0)) and not _has_neighbour(text, m))
    ]
    if not anchors:
        return None
    first = last = anchors[0]
    for anchor in anchors[1:]:
        if TIME_GLUE.match(text[last.end() : anchor.start()]):
            last = anchor
        else:
            break
    start = first.start()
    before = re.search(
        r"\b(?:next|this|coming|on|after|before|at|from)\s+$", text[:start], re.I
    )
    if before and not re.match(r"^(?:on|at)\s", before.group(0), re.I):
        start = before.start()
    return Found("time_phrase", text[start : last.end()].strip(), start, last.end())


def _has_neighbour(text: str, match: re.Match) -> bool:
    around = text[max(0, match.start() - 12) : match.end() + 14].lower()
    return bool(
        re.search(rf"\b(on|next|this)\s+{match.group(0).lower()}\b", around)
    ) or bool(
        re.search(
            rf"\b{match.group(0).lower()}\s+(?:{_PART}|at|after|before|{_CLOCK})",
            around,
        )
    )


SHORT_COMPLAINT_WORDS = 6
QUESTION = re.compile(
    rf"\?|^\s*(?:(?:and|also|plus|oh|so|but)\s+)?{QUESTION_WORDS}\b", re.I
)


def find_concern(text: str, spans: list[tuple[int, int]] = ()) -> Found | None:
    """What they want help with: "for my sore neck" gives "sore neck", and a
    short statement such as "sore back" or "my knee" is the concern itself. It
    must name a body part or condition (``spans``, from the entity ruler) or a
    complaint ("pain", "tight", ...), so "for my husband" is not a concern."""
    stripped = text.strip().rstrip(".!")
    if (
        len(stripped.split()) <= SHORT_COMPLAINT_WORDS
        and not QUESTION.search(stripped)
        and (spans or PAIN_WORDS.search(stripped))
    ):
        phrase = re.sub(r"^(?:my|a|an|the|some|it'?s|its)\s+", "", stripped, flags=re.I)
        start = text.find(phrase)
        return Found("concern_phrase", phrase, start, start + len(phrase))
    for match in CONCERN.finditer(text):
        phrase = match.group(1).strip()
        start, end = match.start(1), match.start(1) + len(phrase)
        names_part = any(s < end and e > start for s, e in spans)
        if names_part or PAIN_WORDS.search(phrase):
            return Found("concern_phrase", phrase, start, end)
    return None


def find_details(
    text: str,
    vocabulary: frozenset | None = None,
    concern_spans: list[tuple[int, int]] = (),
) -> list[Found]:
    """Every detail in ``text``, phones and emails first so their digits and
    words are not read as times or names."""
    text = tidy(text)
    found: list[Found] = []
    masked = text
    for finder in (find_email, find_phone):
        if detail := finder(masked):
            found.append(detail)
            masked = _blank(masked, detail)
    if not any(d.entity == "email_address" for d in found):
        if detail := find_no_email(masked):
            found.append(detail)
            masked = _blank(masked, detail)
    for detail in (
        find_name(masked, vocabulary),
        find_time(masked),
        find_concern(masked, list(concern_spans)),
    ):
        if detail:
            found.append(detail)
            masked = _blank(masked, detail)
    return found


def _blank(text: str, detail: Found) -> str:
    """Same length, so offsets stay valid for the original text."""
    return text[: detail.start] + " " * (detail.end - detail.start) + text[detail.end :]


def load_vocabulary(path: Path) -> frozenset:
    return (
        frozenset(path.read_text(encoding="utf8").split())
        if path.exists()
        else frozenset()
    )
