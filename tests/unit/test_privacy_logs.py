"""Phone numbers and email addresses never reach the logs in full (APP 11:
a log is kept longer and read by more people than a booking)."""

from __future__ import annotations

import logging

import pytest

from bot import private_logs


@pytest.mark.parametrize(
    "text, hidden, kept",
    [
        ("booking from 0412 345 678 stored", "0412 345 678", "78 stored"),
        ("sms to +61412345678 failed", "+61412345678", "78 failed"),
        ("call (02) 5550 1234 back", "5550 1234", "34 back"),
        (
            "mail to priya.k+clinic@example.com bounced",
            "priya.k+clinic",
            "@example.com",
        ),
        ("Email: Tom@Mail.Example.org", "Tom@", "@Mail.Example.org"),
    ],
)
def test_contact_details_are_masked(text, hidden, kept):
    masked = private_logs.mask(text)
    assert hidden not in masked and kept in masked


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-30 08:53:45 INFO started",
        "booking DN-4K7Q stored as 1234",
        "took 12345678 ms",
        "rasa on port 5005, pid 32601",
        "version 3.6.21",
    ],
)
def test_what_is_not_contact_details_stays(text):
    assert private_logs.mask(text) == text


def test_every_log_record_is_masked_once_installed(caplog):
    private_logs.install()
    private_logs.install()
    logger = logging.getLogger("bot.test.privacy")
    with caplog.at_level(logging.INFO, logger="bot.test.privacy"):
        logger.info("stored %s for %s", "0412 345 678", "ana@example.com")
        logger.warning("no details here %d", 5)
    text = caplog.text
    assert "0412 345 678" not in text and "ana@example.com" not in text
    assert "no details here 5" in text
