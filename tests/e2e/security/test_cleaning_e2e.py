"""Every channel cleans text the same way before Rasa sees it, and answers
what is not text politely (real servers, providers' stand-ins)."""

from __future__ import annotations

import json
import time

import pytest

from bot.channels.incoming import EMPTY_REPLY, LONG_NOTE, NOT_TEXT_REPLY
from tests.chat import Chat
from tests.e2e import test_channels_e2e as wire

DIRTY = "does it\x00 hurt\x1b\x07 \u202eafterwards?"
CLEAN = "does it hurt afterwards?"


@pytest.fixture(scope="module")
def servers(channel_servers):
    return channel_servers


def stored_texts(servers, conversation_id: str) -> list[str]:
    return wire.user_texts(servers, conversation_id)


@pytest.mark.parametrize("channel", ["socketio", "whatsapp", "telegram", "messenger"])
def test_control_and_bidi_characters_never_reach_the_conversation(
    channel, servers, providers
):
    chat = Chat(channel, servers, providers)
    try:
        replies = chat.send(DIRTY)
    finally:
        chat.close()
    assert any("second" in r for r in replies), replies
    assert stored_texts(servers, chat.conversation) == [CLEAN]


@pytest.mark.parametrize("payload", [42, ["a", "list"], {"an": "object"}, None])
def test_socketio_answers_what_is_not_text(servers, providers, payload):
    chat = Chat("socketio", servers, providers)
    try:
        before = len(chat.socket_replies)
        chat.sio.emit("user_uttered", {"message": payload, "session_id": chat.id})
        deadline = time.monotonic() + 10
        while len(chat.socket_replies) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert chat.socket_replies[before:] == [NOT_TEXT_REPLY]
        # the conversation still works afterwards
        assert any("second" in r for r in chat.send("does it hurt?"))
    finally:
        chat.close()
    assert stored_texts(servers, chat.conversation) == ["does it hurt?"]


def test_socketio_whitespace_gets_asked_to_type(servers, providers):
    chat = Chat("socketio", servers, providers)
    try:
        assert chat.send(" \n\t ") == [EMPTY_REPLY]
    finally:
        chat.close()
    assert stored_texts(servers, chat.conversation) == []


@pytest.mark.parametrize("channel", ["socketio", "whatsapp"])
def test_a_huge_message_is_cut_with_a_note(channel, servers, providers):
    chat = Chat(channel, servers, providers)
    text = ("does dry needling hurt? " + "it really " * 5000)[:49_000]
    if channel == "whatsapp":
        text = text[:1500] + " " + "x" * 800  # Twilio caps a WhatsApp body
    try:
        replies = chat.send(text)
    finally:
        chat.close()
    assert replies[0] == LONG_NOTE and len(replies) > 1
    [stored] = stored_texts(servers, chat.conversation)
    assert len(stored) <= 2000 and text.startswith(stored)


def test_telegram_text_that_is_not_a_string_is_answered(servers, providers):
    telegram = providers[2]
    chat_id = 990000001
    update = wire.tg_message(chat_id, "x")
    update["message"]["text"] = 42
    response = wire.tg_post(servers, update, wire.TG_SECRET)
    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while not wire.sent_to(telegram, chat_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert wire.sent_to(telegram, chat_id)


@pytest.mark.parametrize("entry", [{"messaging": []}, "entry", 7, [1, "x"]])
def test_messenger_bodies_of_the_wrong_shape_get_200_not_500(servers, entry):
    body = json.dumps({"object": "page", "entry": entry}).encode()
    response = wire.fb_post(servers, body, wire.fb_sign(body, wire.FB_SECRET))
    assert response.status_code == 200
