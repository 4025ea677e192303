"""Two questions in one message: split it, so each gets its own answer.

"is it sore afterwards, and how long are the needles in?" holds two FAQ
questions. Rasa's multi-intents would need an intent, training examples and
rules for every pair of topics; instead the message is cut where a new
question starts, each part is classified by the same NLU model, and when every
part is a question the assistant answers (or a booking request at the end),
the parts are handled one after the other as if sent that way. Anything else
(a greeting and a question, a red flag, a form answer) goes through whole.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

MAX_PARTS = 3
# Two questions fit in a few lines; a wall of text is one message.
MAX_LENGTH = 400
MIN_CONFIDENCE = 0.45
# Where one sentence ends and another starts.
SENTENCE_END = re.compile(r"(?<=[?!.;])\s+|\s*\n+\s*")
QUESTION_START = (
    r"(?:what|what's|whats|how|is|isn't|are|does|do|did|can|could|will|would|"
    r"should|who|where|when|why|which|any|anything|i|im|i'm|it|its|it's|has|have|"
    r"was|were|tell|explain|whats)\b"
)
# "..., and how long ...", "... also is it ...", "... plus does it ...".
JOIN = re.compile(
    rf"\s*(?:,\s*|\s+)(?:and\s+also|oh\s+and|and|also|plus|as\s+well\s+as|or)\s+"
    rf"(?={QUESTION_START})"
    rf"|\s*,\s*(?=(?:also|plus)\b)"
    rf"|\?\s*(?=\S)",
    re.I,
)
MARKERS = re.compile(r"[?!.;\n]\s*\S|\b(and|also|plus)\b", re.I)
# Intents whose answer can stand next to another one.
ANSWERABLE = re.compile(r"^(faq_\w+|personal_advice|session_plan)$")
# May close a list of questions: answer first, then go on to this.
LAST_ONLY = {"book_appointment", "human_handoff", "request_callback"}
NEVER_SPLIT = {"emergency", "non_english"}


def candidate_parts(text: str) -> list[str]:
    """The message cut at sentence ends and at joins that start a question."""
    parts: list[str] = []
    for sentence in SENTENCE_END.split(text.strip()):
        pieces = JOIN.split(sentence)
        parts += [p.strip(" ,") for p in pieces if p and p.strip(" ,")]
    merged: list[str] = []
    for part in parts:
        # A fragment of one or two words belongs to its neighbour ("ok so.").
        if merged and len(part.split()) < 3:
            merged[-1] = f"{merged[-1]} {part}"
        elif not merged and len(part.split()) < 3:
            merged.append(part)
        elif merged and len(merged[-1].split()) < 3:
            merged[-1] = f"{merged[-1]} {part}"
        else:
            merged.append(part)
    return merged


def might_hold_two(text: str) -> bool:
    """Cheap test before any parsing: a sentence break or a join word."""
    return bool(MARKERS.search(text.strip()))


def _intent(parse: dict[str, Any]) -> tuple[str, float]:
    intent = parse.get("intent") or {}
    return intent.get("name") or "", float(intent.get("confidence") or 0.0)


async def split_questions(
    text: str, parse: Callable[[str], Awaitable[dict[str, Any]]]
) -> list[str]:
    """The parts to handle one by one; ``[text]`` when it is one request.

    ``parse`` is the NLU model (Rasa's ``Agent.parse_message``)."""
    if len(text) > MAX_LENGTH or not might_hold_two(text):
        return [text]
    parts = candidate_parts(text)
    if not 2 <= len(parts) <= MAX_PARTS:
        return [text]
    whole, _ = _intent(await parse(text))
    if whole in NEVER_SPLIT:
        return [text]
    intents = []
    for index, part in enumerate(parts):
        name, confidence = _intent(await parse(part))
        last = index == len(parts) - 1
        if confidence < MIN_CONFIDENCE:
            return [text]
        if not (ANSWERABLE.match(name) or (last and name in LAST_ONLY)):
            return [text]
        intents.append(name)
    if len(set(intents)) < 2:
        return [text]
    return parts
