"""WhatsApp, Messenger and Telegram channels: webhook signatures, button
rendering, numbered replies and which channels the credentials enable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from types import SimpleNamespace

import pytest
from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup
from rasa.core.run import _create_single_channel
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from twilio.request_validator import RequestValidator

from bot.channels._buttons import (
    last_buttons,
    numbered_list,
    offered_buttons,
    resolve_reply,
)
from bot.channels._signatures import (
    same_secret,
    twilio_params,
    valid_hub_signature,
    valid_twilio_signature,
)
from bot.channels._text import shorten, split_text
from bot.channels.credentials import build_credentials
from bot.channels.messenger import (
    MessengerInput,
    MessengerOutput,
    incoming_text,
    quick_replies,
)
from bot.channels.telegram import TelegramBot, TelegramWebhookInput, incoming, keyboard
from bot.channels.whatsapp import WhatsAppInput, WhatsAppOutput, whatsapp_address
from bot.settings import load_settings
from tests.standins import GraphStandIn, StandInServer, TelegramStandIn, TwilioStandIn

BUTTONS = [
    {"title": "Side effects", "payload": "/faq_side_effects"},
    {"title": "Aftercare", "payload": "/faq_aftercare"},
    {"title": "What's a trigger point?", "payload": "/faq_what_is_trigger_point"},
]

# Signatures

TWILIO_URL = "https://bot.clinic.facts.example/webhooks/whatsapp/webhook"
TWILIO_FORM = {"From": "whatsapp:+61400000001", "Body": "does it hurt?", "To": "x"}


def twilio_signature(url: str = TWILIO_URL, form: dict = TWILIO_FORM) -> str:
    """Twilio's documented algorithm, written out independently."""
    data = url + "".join(k + form[k] for k in sorted(form))
    digest = hmac.new(b"auth-token", data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_twilio_signature_over_url_and_sorted_params_is_accepted():
    assert twilio_signature() == RequestValidator("auth-token").compute_signature(
        TWILIO_URL, TWILIO_FORM
    )
    assert valid_twilio_signature(
        "auth-token", TWILIO_URL, TWILIO_FORM, twilio_signature()
    )


def test_twilio_signature_covers_blank_and_repeated_params():
    body = b"From=whatsapp%3A%2B61400000001&Body=&MediaUrl0=b&MediaUrl0=a"
    params = twilio_params(body)
    signed = TWILIO_URL + "Body" + "From" + "whatsapp:+61400000001"
    signed += "MediaUrl0a" + "MediaUrl0b"
    digest = hmac.new(b"auth-token", signed.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    assert valid_twilio_signature("auth-token", TWILIO_URL, params, signature)
    assert params.get("Body") == ""


def test_twilio_signature_may_name_the_default_port():
    signed = twilio_signature(TWILIO_URL.replace(".example/", ".example:443/"))
    assert valid_twilio_signature("auth-token", TWILIO_URL, TWILIO_FORM, signed)


@pytest.mark.parametrize(
    "token, url, form, signature",
    [
        ("other-token", TWILIO_URL, TWILIO_FORM, twilio_signature()),
        ("auth-token", TWILIO_URL + "?x=1", TWILIO_FORM, twilio_signature()),
        ("auth-token", TWILIO_URL, {**TWILIO_FORM, "Body": "2"}, twilio_signature()),
        ("auth-token", TWILIO_URL, TWILIO_FORM, None),
        ("auth-token", TWILIO_URL, TWILIO_FORM, ""),
        ("auth-token", TWILIO_URL, TWILIO_FORM, "ünïcode"),
    ],
)
def test_twilio_signature_rejects_wrong_or_missing(token, url, form, signature):
    assert not valid_twilio_signature(token, url, form, signature)


def hub(body: bytes, secret: str = "app-secret") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_hub_signature_of_the_raw_body_is_accepted():
    body = b'{"object":"page","entry":[]}'
    assert valid_hub_signature("app-secret", body, hub(body))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        hub(b"{}", "other-secret"),
        hub(b'{"object":"page","entry":[1]}'),
        hub(b'{"object":"page","entry":[]}').replace("sha256=", "sha1="),
        hub(b'{"object":"page","entry":[]}').removeprefix("sha256="),
        "sha256=ünïcode",
    ],
)
def test_hub_signature_rejects_wrong_or_missing(header):
    assert not valid_hub_signature(
        "app-secret", b'{"object":"page","entry":[]}', header
    )


@pytest.mark.parametrize(
    "given, ok",
    [("s3cret", True), ("s3cre", False), ("S3CRET", False), ("", False), (None, False)],
)
def test_shared_secret(given, ok):
    assert same_secret("s3cret", given) is ok


# Rendering


def test_whatsapp_buttons_become_a_numbered_list():
    assert numbered_list(BUTTONS) == (
        "1. Side effects\n2. Aftercare\n3. What's a trigger point?\n"
        "Reply with a number to choose."
    )


def test_whatsapp_addresses_get_the_prefix_once():
    assert whatsapp_address("+14155238886") == "whatsapp:+14155238886"
    assert whatsapp_address("whatsapp:+14155238886") == "whatsapp:+14155238886"


def test_messenger_quick_replies_keep_payloads_and_fit_titles():
    replies = quick_replies(
        [{"title": "Myofascial pain syndrome", "payload": "/faq_mps"}] * 20
    )
    assert len(replies) == 13
    assert replies[0] == {
        "content_type": "text",
        "title": "Myofascial pain syn…",
        "payload": "/faq_mps",
    }
    assert all(len(r["title"]) <= 20 for r in replies)


def test_telegram_buttons_are_an_inline_keyboard_one_per_row():
    markup = keyboard(BUTTONS)
    assert isinstance(markup, InlineKeyboardMarkup)
    assert markup.to_python()["inline_keyboard"] == [
        [{"text": b["title"], "callback_data": b["payload"]}] for b in BUTTONS
    ]


def test_telegram_payloads_too_long_for_callback_data_become_a_reply_keyboard():
    markup = keyboard([{"title": "Book", "payload": "/inform" + "x" * 60}])
    assert isinstance(markup, ReplyKeyboardMarkup)
    assert markup.to_python()["keyboard"] == [[{"text": "Book"}]]


def test_split_text_respects_the_limit_and_loses_nothing():
    first = " ".join(["first"] * 25)
    text = f"{first}\nsame paragraph\n\n" + " ".join(["word"] * 400)
    pieces = split_text(text, 200)
    assert all(len(p) <= 200 for p in pieces)
    assert pieces[0] == f"{first}\nsame paragraph"
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())
    assert split_text("short", 200) == ["short"]
    assert split_text("x" * 450, 200) == ["x" * 200, "x" * 200, "x" * 50]


def test_shorten():
    assert shorten("Aftercare", 20) == "Aftercare"
    assert shorten("What does needling treat?", 20) == "What does needling…"


@pytest.fixture
def providers():
    twilio = TwilioStandIn(account_sid="AC1", auth_token="tok")
    graph = GraphStandIn(page_access_token="page-token")
    telegram = TelegramStandIn(access_token="123:abc", bot_name="clinic_bot")
    with StandInServer(twilio, graph, telegram):
        yield twilio, graph, telegram


async def test_whatsapp_output_sends_twilio_messages(providers):
    twilio = providers[0]
    output = WhatsAppOutput("AC1", "tok", "+14155238886", twilio.url)
    long_text = " ".join(["sentence"] * 250)
    await output.send_response(
        "whatsapp:+61400000001", {"text": long_text, "buttons": BUTTONS}
    )
    calls = twilio.calls("/2010-04-01/Accounts/AC1/Messages.json")
    assert len(calls) == 2
    assert all(len(c.body["Body"]) <= 1600 for c in calls)
    assert calls[-1].body["Body"].endswith("Reply with a number to choose.")
    assert calls[0].body == {
        "From": "whatsapp:+14155238886",
        "To": "whatsapp:+61400000001",
        "Body": calls[0].body["Body"],
    }
    auth = base64.b64encode(b"AC1:tok").decode()
    assert calls[0].headers["Authorization"] == f"Basic {auth}"


async def test_messenger_output_sends_graph_quick_replies(providers):
    graph = providers[1]
    output = MessengerOutput("page-token", graph.url)
    await output.send_response("psid-1", {"text": "Does it hurt?", "buttons": BUTTONS})
    (call,) = graph.calls("/v17.0/me/messages")
    assert call.query == {"access_token": "page-token"}
    assert call.body == {
        "recipient": {"id": "psid-1"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Does it hurt?", "quick_replies": quick_replies(BUTTONS)},
    }


async def test_telegram_output_sends_and_registers_the_webhook(providers):
    telegram = providers[2]
    bot = TelegramBot("123:abc", telegram.url)
    try:
        await bot.send_response("42", {"text": "Does it hurt?", "buttons": BUTTONS})
        await bot.register_webhook("https://bot.example/webhooks/telegram/webhook", "s")
    finally:
        await bot.close_session()
    (sent,) = telegram.calls("/bot123:abc/sendMessage")
    assert sent.body["chat_id"] == "42" and sent.body["text"] == "Does it hurt?"
    assert json.loads(sent.body["reply_markup"]) == keyboard(BUTTONS).to_python()
    (webhook,) = telegram.calls("/bot123:abc/setWebhook")
    assert webhook.body["secret_token"] == "s"
    assert json.loads(webhook.body["allowed_updates"]) == ["message", "callback_query"]


async def test_a_refused_send_is_logged_not_raised(providers, caplog):
    output = WhatsAppOutput("AC1", "wrong", "+14155238886", providers[0].url)
    with caplog.at_level(logging.ERROR):
        await output.send_text_message("whatsapp:+61400000001", "hello")
    assert "HTTP 401" in caplog.text and "wrong" not in caplog.text

    bot = TelegramBot("999:wrong", providers[2].url)
    caplog.clear()
    try:
        with caplog.at_level(logging.ERROR):
            await bot.send_response("42", {"text": "hello", "image": "https://x/y.png"})
    finally:
        await bot.close_session()
    assert "Unauthorized" in caplog.text


async def test_whatsapp_images_go_as_media(providers):
    twilio = providers[0]
    output = WhatsAppOutput("AC1", "tok", "+14155238886", twilio.url)
    await output.send_image_url("whatsapp:+61400000001", "https://x/y.png")
    (call,) = twilio.calls("/Messages.json")
    assert call.body["MediaUrl"] == "https://x/y.png" and "Body" not in call.body


# Numbered replies


@pytest.mark.parametrize(
    "text, chosen",
    [
        ("2", "/faq_aftercare"),
        (" 3. ", "/faq_what_is_trigger_point"),
        ("1)", "/faq_side_effects"),
        ("aftercare", "/faq_aftercare"),
        ("SIDE EFFECTS", "/faq_side_effects"),
        ("what’s a trigger point", "/faq_what_is_trigger_point"),
        ("0", "0"),
        ("4", "4"),
        ("22", "22"),
        ("after care", "after care"),
        ("does it hurt?", "does it hurt?"),
    ],
)
def test_a_reply_picks_an_option_by_number_or_text(text, chosen):
    assert resolve_reply(text, BUTTONS) == chosen


def test_without_options_a_number_is_just_text():
    assert resolve_reply("2", []) == "2"


def bot_says(text: str, buttons: list | None = None) -> BotUttered:
    return BotUttered(text, {"buttons": buttons} if buttons else {})


def test_options_come_from_the_latest_bot_message_since_the_user_spoke():
    older = [{"title": "Old", "payload": "/old"}]
    events = [
        UserUttered("hi"),
        bot_says("pick", older),
        UserUttered("does it hurt"),
        ActionExecuted("action_give_disclaimer"),
        bot_says("disclaimer"),
        bot_says("answer", BUTTONS),
        ActionExecuted("action_listen"),
    ]
    assert offered_buttons(events) == BUTTONS
    assert offered_buttons([*events, UserUttered("thanks"), bot_says("bye")]) == []
    assert offered_buttons([]) == []


async def test_options_are_read_from_the_tracker_store():
    store = InMemoryTrackerStore(Domain.empty())
    sender = "whatsapp:+61400000001"
    await store.save(
        DialogueStateTracker.from_events(
            sender, [UserUttered("does it hurt"), bot_says("answer", BUTTONS)]
        )
    )
    agent = SimpleNamespace(tracker_store=store)
    assert await last_buttons(agent, sender) == BUTTONS
    assert await last_buttons(agent, "whatsapp:+61400000002") == []
    assert await store.retrieve("whatsapp:+61400000002") is None
    assert await last_buttons(SimpleNamespace(), sender) == []


# Incoming events


def test_messenger_incoming_text():
    assert incoming_text({"message": {"text": "hi"}}) == "hi"
    assert (
        incoming_text(
            {
                "message": {
                    "text": "Aftercare",
                    "quick_reply": {"payload": "/faq_aftercare"},
                }
            }
        )
        == "/faq_aftercare"
    )
    assert incoming_text({"postback": {"payload": "/greet"}}) == "/greet"
    assert incoming_text({"message": {"text": "hi", "is_echo": True}}) is None
    assert incoming_text({"delivery": {"mids": []}}) is None
    assert incoming_text({"message": {"attachments": [{"type": "image"}]}}) is None


def test_telegram_incoming():
    chat = {"id": 42, "type": "private"}
    assert incoming({"message": {"chat": chat, "text": "does it hurt"}}) == (
        "42",
        "does it hurt",
        None,
    )
    assert incoming({"message": {"chat": chat, "text": "/start"}}) == (
        "42",
        "/greet",
        None,
    )
    tap = {"callback_query": {"id": "q1", "message": {"chat": chat}, "data": "/x"}}
    assert incoming(tap) == ("42", "/x", "q1")
    assert incoming({"edited_message": {"chat": chat, "text": "typo fixed"}}) is None
    assert incoming({"message": {"chat": chat, "sticker": {}}}) is None
    assert incoming({}) is None


# Credentials

CHANNEL_ENV = {
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_AUTH_TOKEN": "tok",
    "TWILIO_WHATSAPP_NUMBER": "+14155238886",
    "TWILIO_WEBHOOK_URL": TWILIO_URL,
    "FACEBOOK_VERIFY_TOKEN": "verify",
    "FACEBOOK_APP_SECRET": "secret",
    "FACEBOOK_PAGE_ACCESS_TOKEN": "page-token",
    "TELEGRAM_ACCESS_TOKEN": "123:abc",
    "TELEGRAM_BOT_NAME": "clinic_bot",
    "TELEGRAM_WEBHOOK_URL": "https://bot.clinic.facts.example/webhooks/telegram/webhook",
    "TELEGRAM_SECRET_TOKEN": "tg-secret",
}
API_URL_ENV = ("TWILIO_API_URL", "FACEBOOK_API_URL", "TELEGRAM_API_URL")
WHATSAPP = "bot.channels.whatsapp.WhatsAppInput"
MESSENGER = "bot.channels.messenger.MessengerInput"
TELEGRAM = "bot.channels.telegram.TelegramWebhookInput"


def credentials_with(monkeypatch, env: dict) -> dict:
    for name in [*CHANNEL_ENV, *API_URL_ENV]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return build_credentials(load_settings())


def test_no_messaging_app_without_its_secrets(monkeypatch):
    credentials = credentials_with(monkeypatch, {})
    assert not {WHATSAPP, MESSENGER, TELEGRAM} & credentials.keys()
    partial = {k: v for k, v in CHANNEL_ENV.items() if k != "TWILIO_WEBHOOK_URL"}
    assert WHATSAPP not in credentials_with(monkeypatch, partial)


@pytest.mark.parametrize(
    "prefix, key",
    [("TWILIO_", WHATSAPP), ("FACEBOOK_", MESSENGER), ("TELEGRAM_", TELEGRAM)],
)
def test_each_app_is_enabled_by_its_own_secrets(monkeypatch, prefix, key):
    env = {k: v for k, v in CHANNEL_ENV.items() if k.startswith(prefix)}
    credentials = credentials_with(monkeypatch, env)
    assert {WHATSAPP, MESSENGER, TELEGRAM} & credentials.keys() == {key}


def test_credentials_build_the_channels_with_production_api_urls(monkeypatch):
    credentials = credentials_with(monkeypatch, CHANNEL_ENV)

    whatsapp = _create_single_channel(WHATSAPP, credentials[WHATSAPP])
    assert isinstance(whatsapp, WhatsAppInput) and whatsapp.name() == "whatsapp"
    assert whatsapp.webhook_url == TWILIO_URL
    assert whatsapp.get_output_channel().messages_url == (
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    )

    messenger = _create_single_channel(MESSENGER, credentials[MESSENGER])
    assert isinstance(messenger, MessengerInput) and messenger.name() == "facebook"
    assert (messenger.fb_verify, messenger.fb_secret) == ("verify", "secret")
    assert messenger.get_output_channel().api_url == "https://graph.facebook.com/v17.0"

    telegram = _create_single_channel(TELEGRAM, credentials[TELEGRAM])
    assert isinstance(telegram, TelegramWebhookInput) and telegram.name() == "telegram"
    assert telegram.secret_token == "tg-secret"
    bot = telegram.get_output_channel()
    assert bot is telegram.get_output_channel()
    assert bot.server.api_url("T", "getMe") == "https://api.telegram.org/botT/getMe"


def test_api_urls_can_point_at_a_stand_in(monkeypatch):
    env = {**CHANNEL_ENV, **{name: "http://127.0.0.1:9" for name in API_URL_ENV}}
    credentials = credentials_with(monkeypatch, env)
    assert {credentials[k]["api_url"] for k in (WHATSAPP, MESSENGER, TELEGRAM)} == {
        "http://127.0.0.1:9"
    }
