"""A hundred turns, then a booking, on REST, socket.io and WhatsApp: long
conversations are served like short ones (Rasa sends the action server the
conversation with every call; once that was refused after a dozen turns)."""

from __future__ import annotations

import pytest

from bot.booking.store import BookingStore
from tests.chat import Chat
from tools.bench.long import BOOKING, QUESTIONS

pytestmark = pytest.mark.slow

TURNS = 100
APOLOGY = "something went wrong"


@pytest.fixture(scope="module")
def servers(channel_servers):
    return channel_servers


@pytest.mark.parametrize("channel", ["rest", "socketio", "whatsapp"])
def test_a_hundred_turns_then_a_booking(channel, servers, providers, database):
    chat = Chat(channel, servers, providers, quiet=0.4)
    try:
        for turn in range(TURNS):
            replies = chat.send(QUESTIONS[turn % len(QUESTIONS)])
            assert replies, f"turn {turn + 1}: no reply"
            assert not any(APOLOGY in r for r in replies), (turn + 1, replies)
        replies = []
        for text in BOOKING:
            replies = chat.send(text)
            assert not any(APOLOGY in r for r in replies), (text, replies)
        assert any("reference is DN-" in r for r in replies), replies
    finally:
        chat.close()
    [row] = [
        b for b in BookingStore(database).list() if b.conversation_id.endswith(chat.id)
    ]
    assert (row.name, row.phone, row.concern) == ("Sam", "+61412345678", "sore neck")
    log = servers.log.read_text(errors="replace")
    assert "PayloadTooLarge" not in log and "Request Entity Too Large" not in log
