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


# A widget conversation id: whoever has it can take over the patient's chat.
WIDGET = "web:AbCdEfGhIjKlMnOpQrStUvWx.0123456789abcdefghijkl"


async def test_a_failed_booking_logs_the_handle_not_the_widgets_id(monkeypatch, caplog):
    from actions import requests
    from bot.booking.records import BookingRequest
    from bot.conversation_ids import handle

    def both_down(*_args):
        raise OSError("database and disk down")

    monkeypatch.setattr(requests, "submit_or_queue", both_down)
    request = BookingRequest(
        first_name="Zara", phone="+61412987654", conversation_id=WIDGET
    )
    with caplog.at_level(logging.INFO):
        assert await requests.store_request(request, WIDGET) is None
    assert handle(WIDGET) in caplog.text
    assert "AbCdEfGh" not in caplog.text


async def test_a_failed_handoff_logs_the_handle_not_the_widgets_id(
    monkeypatch, caplog, dispatcher, domain
):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from actions import handoff, services
    from bot.conversation_ids import handle
    from tests.conftest import make_tracker

    class Down:
        def ask(self, *_args, **_kwargs):
            raise OSError("database down")

    monkeypatch.setattr(
        handoff,
        "now",
        lambda: datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Australia/Brisbane")),
    )
    monkeypatch.setattr(services, "handoff_queue", lambda: Down())
    tracker = make_tracker("a person please", "human_handoff", sender_id=WIDGET)
    with caplog.at_level(logging.INFO):
        await handoff.ActionHandoffHuman().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_handoff_failed"
    assert handle(WIDGET) in caplog.text
    assert "AbCdEfGh" not in caplog.text


def test_a_queued_request_stored_under_another_reference_logs_the_handle(
    tmp_path, caplog
):
    from bot.booking.records import BookingRequest
    from bot.booking.spool import Spool, drain
    from bot.booking.store import BookingStore
    from bot.conversation_ids import handle

    store = BookingStore(f"sqlite:///{tmp_path / 'clinic.db'}")
    taken, _ = store.submit(
        BookingRequest(first_name="Tom", phone="+61400111222", conversation_id="x")
    )
    spool = Spool(tmp_path / "spool.db")
    spool.put(
        BookingRequest(first_name="Zara", phone="+61412987654", conversation_id=WIDGET),
        taken.reference,
    )
    with caplog.at_level(logging.INFO):
        assert drain(store, spool) == 1
    store.engine.dispose()
    assert "reference taken" in caplog.text and handle(WIDGET) in caplog.text
    assert "AbCdEfGh" not in caplog.text


WIDGET = "AbCdEfGhIjKlMnOpQrStUvWx.Ab-dEfGhIjKlMnOpQr_tUv"


@pytest.mark.parametrize(
    "line",
    [
        f"Received user message from web:{WIDGET}",
        f"socket.io message to {WIDGET} not delivered",
        f"conversation lock for 'web:{WIDGET}' timed out",
    ],
)
def test_a_widget_id_in_any_log_line_becomes_its_handle(line):
    """Whoever logs it (Rasa, socket.io, our lock store), the id that opens
    the patient's chat is not in the log; the handle still ties lines of one
    conversation together."""
    from bot.conversation_ids import handle

    masked = private_logs.mask(line)
    assert WIDGET not in masked and WIDGET[:24] not in masked
    assert handle(f"web:{WIDGET}") in masked


@pytest.mark.parametrize(
    "text",
    [
        "my email is zara.q at example dot com",
        "zara dot q (at) example dot com dot au",
        "write to zara at example.com.au please",
    ],
)
def test_a_spelled_out_email_is_masked_in_logs(text):
    masked = private_logs.mask(text)
    assert "zara" not in masked and "[email]" in masked
