"""Details people give before they are asked: names, phones, emails, times."""

from __future__ import annotations

import unicodedata

import pytest

from bot.booking.contact import normalise_phone
from bot.nlp.details import clean_name, find_details, find_name, find_time

VOCABULARY = frozenset("sore keen grace will in pregnant scared back".split())


def details(text: str) -> dict[str, str]:
    return {d.entity: d.value for d in find_details(text, VOCABULARY)}


def test_everything_in_one_message():
    found = details(
        "book me in for tomorrow at 9am, my name is Tom and my number is "
        "0400 111 222, it's for my sore neck"
    )
    assert found == {
        "phone_number": "+61400111222",
        "person_name": "Tom",
        "time_phrase": "tomorrow at 9am",
        "concern_phrase": "sore neck",
    }


def test_name_here_phone_and_time():
    found = details(
        "Hey, Ben here, 0422 111 333, can I get in Friday morning for my shoulder?"
    )
    assert found["person_name"] == "Ben"
    assert found["phone_number"] == "+61422111333"
    assert found["time_phrase"] == "Friday morning"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I'm Ben, my number is 0422 111 333", "Ben"),
        ("my name's Priya", "Priya"),
        ("hi im priya, can i book?", "Priya"),
        ("this is Hamish", "Hamish"),
        ("Hi I'm Grace, booking for my back", "Grace"),
        ("my name is zoe o'brien-smith", "Zoe O'Brien-Smith"),
        ("Ｔｏｍ here", "Tom"),
    ],
)
def test_names_given_for_oneself(text, name):
    found = find_name(unicodedata.normalize("NFKC", text), VOCABULARY)
    assert found is not None and found.value == name


@pytest.mark.parametrize(
    "text",
    [
        "i'm sore",
        "I'm pregnant, is it safe for me?",
        "I'm in a lot of pain",
        "i am keen to book",
        "call me back tomorrow",
        "I'm scared of needles",
        "does it hurt?",
    ],
)
def test_words_after_im_are_not_always_names(text):
    assert find_name(text, VOCABULARY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Zoe O'Brien-Smith", "Zoe O'Brien-Smith"),
        ("Chloe D'Souza", "Chloe D'Souza"),
        ("Tom\n", "Tom"),
        ("  priya  ", "Priya"),
        ("José", "José"),
        ("Jose\u0301", "José"),
        ("Nguyễn Văn An", "Nguyễn Văn An"),
        ("李华", "李华"),
        ("Ｔｏｍ", "Tom"),
        ("Mary Jane", "Mary Jane"),
        ("it's Tom", "Tom"),
        ("Tom, 0412 345 678", "Tom"),
        ("McDonald", "McDonald"),
    ],
)
def test_names_as_people_type_them(text, expected):
    name = clean_name(text)
    assert name == expected
    assert name == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize(
    "text", ["yes", "0412 345 678", "<script>", "=HYPERLINK(1)", "Robert'); DROP"]
)
def test_not_names(text):
    assert clean_name(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "phone: 0412 345 678",
        "phone 0412 345 678",
        "mobile: 0412 345 678",
        "mobile 0412 345 678",
        "mob: 0412 345 678",
        "mob 0412345678",
        "ph: 0412 345 678",
        "ph 0412 345 678",
        "tel: 0412 345 678",
        "Tel 0412 345 678",
        "Phone number: 0412 345 678",
        "my mobile is 0412 345 678",
    ],
)
def test_phone_labels(text):
    assert normalise_phone(text) == "+61412345678"
    assert details(f"hi, {text}")["phone_number"] == "+61412345678"


@pytest.mark.parametrize(
    "text",
    ["I can do Tuesday after 4, my number is 0401 222 333, no email",
     "Sam, 0412 345 678, I don't have an email",
     "0412 345 678 (no email address), any time"],
)  # fmt: skip
def test_no_email_in_a_message_of_details(text):
    found = details(text)
    assert found["email_address"] == "none"
    assert found["phone_number"].startswith("+614")


@pytest.mark.parametrize(
    "text", ["can I get the confirmation by email", "no, email is fine", "emails?"]
)
def test_an_email_mentioned_is_not_no_email(text):
    assert "email_address" not in details(text)


def test_email_in_a_sentence():
    assert details("email me at Jo.Smith@Example.COM please")["email_address"] == (
        "Jo.Smith@example.com"
    )


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("can I come in next tuesday arvo?", "next tuesday arvo"),
        ("any time is fine", "any time"),
        ("can I come in at 3 on wed?", "at 3 on wed"),
        ("how about the 3rd of December", "3rd of December"),
    ],
)
def test_times(text, phrase):
    found = find_time(text)
    assert found is not None and found.value == phrase


@pytest.mark.parametrize(
    "text",
    [
        "how long are the needles in?",
        "I've had neck pain for 2 weeks",
        "i sat down and my back went",
    ],
)
def test_no_time_where_none_is_meant(text):
    assert find_time(text) is None


def test_phone_digits_are_not_read_as_a_time():
    assert "time_phrase" not in details("ring me on 0412 345 678")


def test_short_complaint_is_the_concern_but_a_question_is_not():
    assert details("sore back")["concern_phrase"] == "sore back"
    assert "concern_phrase" not in details("is it sore afterwards?")
    assert "concern_phrase" not in details("book for my husband please")
