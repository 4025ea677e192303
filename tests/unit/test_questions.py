"""Splitting a message that asks two questions (the NLU model is faked)."""

from __future__ import annotations

import pytest

from bot.nlp.questions import candidate_parts, split_questions

INTENTS = {
    "is it sore afterwards": ("faq_does_it_hurt", 0.9),
    "how long are the needles in?": ("faq_needle_duration", 0.95),
    "does it hurt?": ("faq_does_it_hurt", 0.99),
    "can I book in for Friday": ("book_appointment", 0.9),
    "hi there, does it hurt?": ("faq_does_it_hurt", 0.9),
    "what are the side effects": ("faq_side_effects", 0.9),
    "is it safe": ("faq_side_effects", 0.4),
}


async def parse(text: str) -> dict:
    name, confidence = INTENTS.get(text, ("nlu_fallback", 0.2))
    if "chest pain" in text:
        name, confidence = "emergency", 1.0
    return {"intent": {"name": name, "confidence": confidence}}


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "is it sore afterwards, and how long are the needles in?",
            ["is it sore afterwards", "how long are the needles in?"],
        ),
        (
            "does it hurt? how long are the needles in?",
            ["does it hurt?", "how long are the needles in?"],
        ),
        (
            "does it hurt?\nhow long are the needles in?",
            ["does it hurt?", "how long are the needles in?"],
        ),
        ("ok so. does it hurt?", ["ok so. does it hurt?"]),
    ],
)
def test_candidate_parts(text, parts):
    assert candidate_parts(text) == parts


async def test_two_questions_are_split_in_the_order_asked():
    text = "is it sore afterwards, and how long are the needles in?"
    assert await split_questions(text, parse) == [
        "is it sore afterwards",
        "how long are the needles in?",
    ]


async def test_a_question_then_a_booking_request_is_split():
    text = "does it hurt? can I book in for Friday"
    assert await split_questions(text, parse) == [
        "does it hurt?",
        "can I book in for Friday",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "does it hurt?",
        "can I book in for Friday. does it hurt?",
        "does it hurt? does it hurt?",
        "what are the side effects? is it safe",
        "does it hurt? I have chest pain right now",
    ],
)
async def test_everything_else_goes_through_whole(text):
    assert await split_questions(text, parse) == [text]
