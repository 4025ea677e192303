"""Rasa's conversation routes as an API caller reaches them: the id in the
path is decoded exactly once, bad encodings are a 400, and output on a
channel the conversation was not opened on is refused before Rasa's
handler runs."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import quote

import pytest
import rasa.server

from bot.handoff.rasa_api import conversation_path
from bot.rasa import extensions


@pytest.fixture(autouse=True)
def applied():
    extensions.apply()


def route(seen: list):
    ready = SimpleNamespace(is_ready=lambda: True)
    app = SimpleNamespace(ctx=SimpleNamespace(agent=ready))

    def handler(request, conversation_id):
        seen.append(conversation_id)
        return "handled"

    return rasa.server.ensure_loaded_agent(app)(handler)


def request(**args) -> SimpleNamespace:
    return SimpleNamespace(args=args)


@pytest.mark.parametrize(
    "conversation",
    [
        "rest:john smith",
        "rest:ward/bed 4",
        "rest:100% sure %2F %41",
        "rest:Zoë 🙂",
        "rest:who?what#where&x=1",
        "rest:" + "x" * 250,
        "web:AbCdEfGhIjKlMnOpQrStUvWx.AbCdEfGhIjKlMnOpQrStUv",
        "whatsapp:+61400000000",
    ],
)
def test_the_id_the_console_encodes_is_the_id_rasa_sees(conversation):
    seen: list = []
    assert route(seen)(request(), conversation_id=conversation_path(conversation))
    assert seen == [conversation]


def test_an_id_sent_unencoded_where_that_is_possible_is_seen_as_is():
    seen: list = []
    route(seen)(request(), conversation_id="telegram:4242")
    assert seen == ["telegram:4242"]


def test_an_encoding_that_is_not_utf8_is_a_bad_request():
    with pytest.raises(rasa.server.ErrorResponse) as refused:
        route([])(request(), conversation_id="rest:%FF%FE")
    assert refused.value.status == 400


@pytest.mark.parametrize(
    "conversation, asked",
    [
        ("web:abc", "telegram"),
        ("telegram:42", "socketio"),
        ("whatsapp:+61400000000", "facebook"),
        ("rest:abc", "socketio"),
        ("messenger:123", "whatsapp"),
        ("old-bare-id", "socketio"),
    ],
)
def test_output_on_another_channel_is_refused_before_the_handler(conversation, asked):
    seen: list = []
    with pytest.raises(rasa.server.ErrorResponse) as refused:
        route(seen)(request(output_channel=asked), conversation_id=quote(conversation))
    assert refused.value.status == 400 and seen == []


@pytest.mark.parametrize(
    "conversation, asked",
    [("web:abc", "socketio"), ("messenger:1", "facebook"), ("rest:a", "latest")],
)
def test_the_conversations_own_channel_or_latest_is_let_through(conversation, asked):
    seen: list = []
    route(seen)(request(output_channel=asked), conversation_id=quote(conversation))
    assert seen == [conversation]
