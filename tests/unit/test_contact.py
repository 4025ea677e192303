"""Phone and email validation and normalisation."""

from __future__ import annotations

import pytest

from bot.booking.contact import display_phone, normalise_email, normalise_phone


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0412 345 678", "+61412345678"),
        ("0412345678", "+61412345678"),
        ("0412-345-678", "+61412345678"),
        ("0412.345.678", "+61412345678"),
        ("+61 412 345 678", "+61412345678"),
        ("+61412345678", "+61412345678"),
        ("61412345678", "+61412345678"),
        ("+61 (0)412 345 678", "+61412345678"),
        ("0061 412 345 678", "+61412345678"),
        ("mob: 0412 345 678", "+61412345678"),
        ("(07) 3123 4567", "+61731234567"),
        ("07 3123 4567", "+61731234567"),
        ("02 9876 5432", "+61298765432"),
        ("(03) 9123-4567", "+61391234567"),
        ("08 8123 4567", "+61881234567"),
        ("+61 7 3123 4567", "+61731234567"),
        ("1300 123 456", "+611300123456"),
        ("1800 123 456", "+611800123456"),
    ],
)
def test_australian_numbers_are_normalised(text, expected):
    assert normalise_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "12345",
        "0412 345 67",
        "0412 345 6789",
        "+1 415 555 1234",
        "+44 20 7946 0958",
        "0512 345 678",
        "0412 345 678 or 0413 111 222",
        "04l2 345 678",
        "0412+345678",
        "'; DROP TABLE bookings; --",
        '=HYPERLINK("x")',
    ],
)
def test_bad_numbers_are_rejected(text):
    assert normalise_phone(text) is None


@pytest.mark.parametrize(
    "e164, shown",
    [
        ("+61412345678", "0412 345 678"),
        ("+61731234567", "(07) 3123 4567"),
        ("+611300123456", "1300 123 456"),
    ],
)
def test_numbers_are_read_back_the_local_way(e164, shown):
    assert display_phone(e164) == shown


@pytest.mark.parametrize(
    "text, expected",
    [
        ("jo@example.com", "jo@example.com"),
        ("Jo.Smith@Example.COM", "Jo.Smith@example.com"),
        (" <sam+physio@mail.example> ", "sam+physio@mail.example"),
        ("a@b.co", "a@b.co"),
    ],
)
def test_good_emails(text, expected):
    assert normalise_email(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "jo", "jo@", "@example.com", "jo@example", "jo smith@example.com",
     "jo@@example.com", "jo..s@example.com", "jo@-example.com",
     "<script>@x.com", "x" * 65 + "@example.com"],
)  # fmt: skip
def test_bad_emails(text):
    assert normalise_email(text) is None
