"""The REST channel's request checks and text cleaning, without a model."""

from __future__ import annotations

import json
import re
import uuid

import aiohttp
import pytest
from rasa.core.run import _create_single_channel
from sanic import Sanic

from bot.channels.credentials import build_credentials
from bot.channels.floods import client_tag
from bot.channels.incoming import (
    EMPTY_REPLY,
    MAX_TEXT,
    clean_text,
    cut_at_word,
    prepare_text,
    shorten_text,
)
from bot.channels.rest import (
    MAX_SENDER,
    BadRequest,
    ClinicRestInput,
    RestPayload,
    check_input_channel,
    check_message,
    check_metadata,
    check_payload,
    check_sender,
    parse_body,
    read_request,
)
from bot.settings import load_settings

REST = "bot.channels.rest.ClinicRestInput"
CHEST = re.compile(r"\bchest\s+pain")


NOT_JSON = [b"", b"   ", b"{", b"{not json}", b"{'sender': 'a'}", b"\xff\xfe\xfa"]


@pytest.mark.parametrize("body", [*NOT_JSON, b"[" * 100_000])
def test_bodies_that_are_not_json_are_refused(body):
    with pytest.raises(BadRequest, match="valid JSON"):
        parse_body(body)


def test_json_bodies_are_decoded():
    assert parse_body(b'{"sender": "a", "message": "hi"}') == {
        "sender": "a",
        "message": "hi",
    }
    assert parse_body(json.dumps({"message": "🙂"}).encode()) == {"message": "🙂"}


@pytest.mark.parametrize("data", [[], ["hi"], "hello", 42, 1.5, None, True])
def test_a_body_that_is_not_an_object_is_refused(data):
    with pytest.raises(BadRequest, match="JSON object"):
        check_payload(data)


@pytest.mark.parametrize(
    "sender",
    [None, 5, 1.5, True, [], ["a"], {}, "", "   ", "\t\n"],
)
def test_a_sender_must_be_a_non_empty_string(sender):
    with pytest.raises(BadRequest, match="sender must be a non-empty string"):
        check_sender(sender)


@pytest.mark.parametrize("length", [MAX_SENDER + 1, 1000, 5000])
def test_a_long_sender_is_refused_not_truncated(length):
    with pytest.raises(BadRequest, match=f"at most {MAX_SENDER}"):
        check_sender("x" * length)


@pytest.mark.parametrize(
    "sender",
    ["a\x00b", "a\nb", "a\rb", "a\tb", "a\x1bb", "a\x9bb", "a\u202eb", "a\ud800b"],
)
def test_a_sender_with_control_characters_is_refused(sender):
    with pytest.raises(BadRequest, match="control characters"):
        check_sender(sender)


@pytest.mark.parametrize(
    "sender", ["me", "x" * MAX_SENDER, "e2e-3f2a", "Zoë 🙂", " padded ", "a/b"]
)
def test_good_senders_are_kept_exactly(sender):
    assert check_sender(sender) == sender


@pytest.mark.parametrize("message", [None, 0, 5, 1.5, True, [], ["hi"], {"t": 1}])
def test_a_message_must_be_a_string(message):
    with pytest.raises(BadRequest, match="message must be a string"):
        check_message(message)


@pytest.mark.parametrize("message", ["", " ", "hi", "🙂"])
def test_any_string_is_a_message(message):
    assert check_message(message) == message


@pytest.mark.parametrize("metadata", [[], "x", 1, True, [{"a": 1}]])
def test_metadata_must_be_an_object(metadata):
    with pytest.raises(BadRequest, match="metadata must be an object"):
        check_metadata(metadata)


def test_metadata_that_cannot_be_stored_as_utf8_is_refused():
    with pytest.raises(BadRequest, match="Unicode"):
        check_metadata({"page": "a\ud800b"})


@pytest.mark.parametrize("metadata", [None, {}, {"page": "/faq", "n": [1, 2]}])
def test_metadata_absent_null_or_an_object_is_accepted(metadata):
    assert check_metadata(metadata) == metadata


@pytest.mark.parametrize("channel", [5, [], {}, True, "x" * 41, "rest\x00", "a\nb"])
def test_a_bad_input_channel_is_refused(channel):
    with pytest.raises(BadRequest, match="input_channel"):
        check_input_channel(channel)


@pytest.mark.parametrize("channel", [None, "rest", "x" * 40])
def test_a_good_input_channel_is_kept(channel):
    assert check_input_channel(channel) == channel


def test_a_whole_payload_is_checked_field_by_field():
    data = {"sender": "me", "message": " hi ", "metadata": {"a": 1}, "extra": 1}
    assert check_payload(data) == RestPayload("me", " hi ", {"a": 1})
    with pytest.raises(BadRequest, match="sender"):
        check_payload({"message": "hi"})
    with pytest.raises(BadRequest, match="message"):
        check_payload({"sender": "me"})
    with pytest.raises(BadRequest, match="metadata"):
        check_payload({"sender": "me", "message": "hi", "metadata": []})


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("does it\x00 hurt\x1b?", "does it hurt?"),
        ("\x00\x01\x02does it hurt", "does it hurt"),
        ("hu\x7frt", "hurt"),
        ("hu\x9brt \x80\x9f", "hurt"),
        ("line one\nline two", "line one line two"),
        ("a\r\nb\tc\vd\fe", "a b c d e"),
        ("a\x85b\u2028c\u2029d", "a b c d"),
        ("  lots   of    space  ", "lots of space"),
        ("non\u00a0breaking\u3000space", "non breaking space"),
        ("\u202eevil\u202c text", "evil text"),
        ("\u2066isolated\u2069 \u202aembedded\u202c", "isolated embedded"),
        ("zero\u200bwidth\u2060joined\ufeff", "zerowidthjoined"),
        ("lone\ud800surrogate", "lonesurrogate"),
        ("🙂🙂", "🙂🙂"),
        ("👍", "👍"),
        ("👨\u200d👩\u200d👧 ❤\ufe0f 🇦🇺", "👨\u200d👩\u200d👧 ❤\ufe0f 🇦🇺"),
        ("هل الإبر الجافة مؤلمة؟", "هل الإبر الجافة مؤلمة؟"),
        ("干针疼吗？", "干针疼吗？"),
        ("Tut Trockennadeln weh?", "Tut Trockennadeln weh?"),
        ('=HYPERLINK("http://evil","x")', '=HYPERLINK("http://evil","x")'),
        ("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),
        ("Robert'); DROP TABLE bookings;--", "Robert'); DROP TABLE bookings;--"),
        ("a@b.com\r\nBcc: x@y.z", "a@b.com Bcc: x@y.z"),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    "raw",
    ["", " ", "\n\t\r", "\x00", "\x00\x1b\x7f", "\u202e\u202c", "\u200b", "\ud800"],
)
def test_text_of_nothing_visible_cleans_to_empty(raw):
    assert clean_text(raw) == ""


def test_cleaning_twice_changes_nothing_more():
    raw = " a\x00\n\n b\u202e c\t "
    assert clean_text(clean_text(raw)) == clean_text(raw) == "a b c"


def test_short_text_is_not_cut():
    assert cut_at_word("does it hurt?", 20) == "does it hurt?"
    assert cut_at_word("x" * 20, 20) == "x" * 20


def test_long_text_is_cut_at_the_last_word_boundary():
    assert cut_at_word("one two three four", 10) == "one two"
    assert cut_at_word("one two three four", 13) == "one two three"


def test_one_endless_word_is_cut_hard():
    assert cut_at_word("x" * 50, 20) == "x" * 20
    assert cut_at_word("ab " + "x" * 50, 20) == ("ab " + "x" * 50)[:20]


@pytest.mark.parametrize("length", [MAX_TEXT + 1, 2500, 10_000, 100_000])
def test_long_messages_are_cut_to_the_limit_at_a_word(length):
    words = ("does dry needling hurt " * (length // 20 + 1))[:length]
    text = prepare_text(words)
    assert len(text) <= MAX_TEXT
    assert words.startswith(text) and words[len(text)] == " "


def test_a_message_of_exactly_the_limit_is_kept_whole():
    text = ("word " * 400)[:MAX_TEXT]
    assert prepare_text(text) == text.strip()


def test_a_red_flag_in_the_cut_off_part_is_kept():
    text = "my back hurts " * 300 + "and now I have chest pain"
    short = shorten_text(text, 200, [CHEST])
    assert len(short) <= 200
    assert short.startswith("my back hurts") and short.endswith(" chest pain")


def test_a_red_flag_already_kept_is_not_repeated():
    text = "chest pain " + "my back hurts " * 300 + "chest pain again"
    assert shorten_text(text, 200, [CHEST]) == cut_at_word(text, 200)


def test_the_real_red_flags_survive_a_long_message():
    text = "blah " * 3000 + "I can't breathe"
    assert "can't breathe" in prepare_text(text)


def test_a_request_is_read_checked_and_cleaned():
    body = json.dumps(
        {"sender": "me", "message": "does it\u0000 hurt\u001b?", "input_channel": "web"}
    ).encode()
    assert read_request(body) == RestPayload("me", "does it hurt?", None)
    blank = json.dumps({"sender": "me", "message": " \u0000\n "}).encode()
    assert read_request(blank).text == ""


def test_the_rest_channel_is_registered_under_its_class():
    credentials = build_credentials(load_settings())
    assert "rest" not in credentials and REST in credentials
    channel = _create_single_channel(REST, credentials[REST])
    assert isinstance(channel, ClinicRestInput)
    assert channel.name() == "rest" and channel.url_prefix() == "rest"


class Webhook:
    """The channel on a real Sanic server, with a handler that echoes."""

    def __init__(self):
        self.seen = []
        self.url = ""

    async def on_new_message(self, message):
        self.seen.append(message)
        await message.output_channel.send_text_message(
            message.sender_id, f"echo: {message.text}"
        )

    async def post(self, body, query: str = "") -> tuple[int, str, str]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{self.url}/webhook{query}", data=data) as r:
                return r.status, r.headers.get("content-type", ""), await r.text()


@pytest.fixture
async def webhook(monkeypatch):
    # Sanic rewrites its HTTP class on the first start; test mode lets it
    # start again in the same process.
    monkeypatch.setattr(Sanic, "test_mode", True)
    hook = Webhook()
    app = Sanic(f"rest-test-{uuid.uuid4().hex}")
    app.blueprint(
        ClinicRestInput().blueprint(hook.on_new_message), url_prefix="/webhooks/rest"
    )
    server = await app.create_server(
        host="127.0.0.1", port=0, return_asyncio_server=True
    )
    await server.startup()
    port = server.server.sockets[0].getsockname()[1]
    hook.url = f"http://127.0.0.1:{port}/webhooks/rest"
    yield hook
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        b'"hello"',
        b"42",
        {"message": "hi"},
        {"sender": 5, "message": "hi"},
        {"sender": "x" * 5000, "message": "hi"},
        {"sender": "me", "message": 5},
        {"sender": "me", "message": ["hi"]},
        {"sender": "me", "message": None},
        {"sender": "me", "message": "hi", "metadata": "x"},
        {"sender": "me", "message": "hi", "input_channel": 7},
    ],
)
async def test_bad_requests_get_400_and_never_reach_the_conversation(webhook, body):
    status, content_type, text = await webhook.post(body)
    assert status == 400 and content_type.startswith("application/json")
    assert set(json.loads(text)) == {"error"}
    assert webhook.seen == []


@pytest.mark.parametrize("query", ["", "?stream=true"])
async def test_an_empty_message_is_answered_without_the_conversation(webhook, query):
    status, _, text = await webhook.post({"sender": "me", "message": " \x00\n"}, query)
    assert status == 200
    lines = text.splitlines() if query else [json.dumps(m) for m in json.loads(text)]
    assert [json.loads(line) for line in lines] == [
        {"recipient_id": "me", "text": EMPTY_REPLY}
    ]
    assert webhook.seen == []


async def test_the_conversation_gets_the_cleaned_text_and_fields(webhook):
    body = {
        "sender": "me",
        "message": "does it\x00 hurt\x1b?\n",
        "metadata": {"page": "/faq"},
    }
    status, _, text = await webhook.post(body)
    assert status == 200
    assert json.loads(text) == [{"recipient_id": "me", "text": "echo: does it hurt?"}]
    [message] = webhook.seen
    assert (message.sender_id, message.text) == ("rest:me", "does it hurt?")
    assert message.input_channel == "rest"
    assert message.metadata == {"page": "/faq", "_client": client_tag("127.0.0.1")}


async def test_streaming_still_works(webhook):
    status, content_type, text = await webhook.post(
        {"sender": "me", "message": "hi"}, "?stream=true"
    )
    assert status == 200 and content_type.startswith("text/event-stream")
    assert [json.loads(line) for line in text.splitlines()] == [
        {"recipient_id": "me", "text": "echo: hi"}
    ]


@pytest.mark.parametrize("claimed", ["socketio", "whatsapp", "facebook", "telegram"])
async def test_a_client_cannot_name_its_own_channel(webhook, claimed):
    """Rasa records the input channel a message names; a REST client
    claiming to be the widget or WhatsApp would have staff replies sent out
    there, so the claim is ignored."""
    status, _, _ = await webhook.post(
        {"sender": "me", "message": "hi", "input_channel": claimed}
    )
    assert status == 200
    assert [m.input_channel for m in webhook.seen] == ["rest"]


async def test_a_long_message_reaches_the_conversation_cut(webhook):
    status, _, _ = await webhook.post({"sender": "me", "message": "why " * 5000})
    assert status == 200 and len(webhook.seen[0].text) <= MAX_TEXT


async def test_the_health_route_is_untouched(webhook):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{webhook.url}/") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok"}
