"""End to end: the real servers with WhatsApp, Messenger and Telegram
enabled, talking to local stand-ins of the providers' APIs."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from urllib.parse import quote

import pytest
import requests
from twilio.request_validator import RequestValidator

from tests.servers import MODEL, TOKEN, Servers
from tests.standins import (
    GraphStandIn,
    Received,
    StandInServer,
    TelegramStandIn,
    TwilioStandIn,
)

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-auth-token"
CLINIC_NUMBER = "+14155238886"
TWILIO_PUBLIC_URL = "https://bot.clinic.facts.example/webhooks/whatsapp/webhook"
FB_SECRET = "fb-app-secret"
FB_VERIFY = "fb-verify-token"
FB_PAGE_TOKEN = "fb-page-token"
TG_TOKEN = "123456789:AAE-clinic-test-token"
TG_SECRET = "tg-secret-token"
TG_PUBLIC_URL = "https://bot.clinic.facts.example/webhooks/telegram/webhook"
HURT_PAYLOADS = ["/faq_side_effects", "/faq_aftercare", "/book_appointment"]


@pytest.fixture(scope="module")
def providers():
    twilio = TwilioStandIn(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    graph = GraphStandIn(page_access_token=FB_PAGE_TOKEN)
    telegram = TelegramStandIn(access_token=TG_TOKEN, bot_name="clinic_test_bot")
    with StandInServer(twilio, graph, telegram):
        yield twilio, graph, telegram


@pytest.fixture(scope="module")
def servers(providers, tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    twilio, graph, telegram = providers
    root = tmp_path_factory.mktemp("channels")
    servers = Servers(
        root / "conversations.db",
        root / "servers.log",
        env={
            "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_WHATSAPP_NUMBER": CLINIC_NUMBER,
            "TWILIO_WEBHOOK_URL": TWILIO_PUBLIC_URL,
            "TWILIO_API_URL": twilio.url,
            "FACEBOOK_VERIFY_TOKEN": FB_VERIFY,
            "FACEBOOK_APP_SECRET": FB_SECRET,
            "FACEBOOK_PAGE_ACCESS_TOKEN": FB_PAGE_TOKEN,
            "FACEBOOK_API_URL": graph.url,
            "TELEGRAM_ACCESS_TOKEN": TG_TOKEN,
            "TELEGRAM_BOT_NAME": "clinic_test_bot",
            "TELEGRAM_WEBHOOK_URL": TG_PUBLIC_URL,
            "TELEGRAM_SECRET_TOKEN": TG_SECRET,
            "TELEGRAM_API_URL": telegram.url,
        },
    )
    servers.start()
    yield servers
    servers.stop()


def tracker(servers: Servers, conversation: str) -> dict:
    """Rasa's route does not unquote the id, so ``whatsapp:+61...`` goes as is."""
    response = requests.get(
        f"{servers.url}/conversations/{quote(conversation, safe=':+')}/tracker",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def user_events(servers: Servers, conversation: str) -> list[dict]:
    return [e for e in tracker(servers, conversation)["events"] if e["event"] == "user"]


def user_texts(servers: Servers, conversation: str) -> list[str]:
    return [e["text"] for e in user_events(servers, conversation)]


# WhatsApp through Twilio


def whatsapp_number() -> str:
    return "whatsapp:+614" + str(uuid.uuid4().int)[:8]


def twilio_post(servers: Servers, form: dict, signature: str | None):
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return requests.post(
        f"{servers.url}/webhooks/whatsapp/webhook",
        data=form,
        headers=headers,
        timeout=60,
    )


def whatsapp_says(servers: Servers, sender: str, text: str, token=TWILIO_TOKEN):
    form = {
        "SmsMessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": TWILIO_SID,
        "From": sender,
        "To": f"whatsapp:{CLINIC_NUMBER}",
        "Body": text,
        "NumMedia": "0",
        "ProfileName": "Pat",
    }
    signature = RequestValidator(token).compute_signature(TWILIO_PUBLIC_URL, form)
    return twilio_post(servers, form, signature)


def bodies_to(twilio: TwilioStandIn, sender: str) -> list[str]:
    return [
        r.body["Body"] for r in twilio.calls("/Messages.json") if r.body["To"] == sender
    ]


def test_whatsapp_answer_has_numbered_options_and_2_picks_the_second(
    servers, providers
):
    twilio = providers[0]
    sender = whatsapp_number()
    response = whatsapp_says(servers, sender, "does it hurt?")
    assert response.status_code == 200
    bodies = twilio.wait_for(
        lambda _: any("cramp" in b for b in bodies_to(twilio, sender))
    )
    calls = [r for r in bodies if r.body.get("To") == sender]
    assert all(r.body["From"] == f"whatsapp:{CLINIC_NUMBER}" for r in calls)
    answer = bodies_to(twilio, sender)[-1]
    assert "\n1. Side effects\n2. Aftercare\n3. " in answer

    count = len(bodies_to(twilio, sender))
    assert whatsapp_says(servers, sender, "2").status_code == 200
    twilio.wait_for(lambda _: len(bodies_to(twilio, sender)) > count)
    assert "drink water, do some gentle stretching" in bodies_to(twilio, sender)[-1]
    assert user_events(servers, sender)[-1]["text"] == "/faq_aftercare"


def test_whatsapp_option_text_picks_that_option(servers, providers):
    twilio = providers[0]
    sender = whatsapp_number()
    whatsapp_says(servers, sender, "does dry needling hurt")
    twilio.wait_for(lambda _: any("cramp" in b for b in bodies_to(twilio, sender)))
    assert whatsapp_says(servers, sender, "AFTERCARE").status_code == 200
    assert user_events(servers, sender)[-1]["text"] == "/faq_aftercare"


@pytest.mark.parametrize("signature", ["bad-signature", None, "wrong-token"])
def test_whatsapp_rejects_unsigned_and_missigned_webhooks(
    servers, providers, signature
):
    sender = whatsapp_number()
    if signature == "wrong-token":
        response = whatsapp_says(servers, sender, "does it hurt?", token="guess")
    else:
        response = twilio_post(
            servers, {"From": sender, "Body": "does it hurt?"}, signature
        )
    assert response.status_code == 403
    assert user_events(servers, sender) == []
    assert bodies_to(providers[0], sender) == []


# Facebook Messenger


def fb_post(servers: Servers, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return requests.post(
        f"{servers.url}/webhooks/facebook/webhook",
        data=body,
        headers=headers,
        timeout=60,
    )


def fb_event(psid: str, message: dict) -> bytes:
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "PAGE_ID",
                    "time": 1700000000000,
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": "PAGE_ID"},
                            "timestamp": 1700000000000,
                            "message": {"mid": "m_" + uuid.uuid4().hex, **message},
                        }
                    ],
                }
            ],
        }
    ).encode()


def fb_sign(body: bytes, secret: str = FB_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def messages_to(graph: GraphStandIn, psid: str) -> list[Received]:
    return [
        r
        for r in graph.calls("/me/messages")
        if r.body["recipient"]["id"] == psid and "message" in r.body
    ]


def test_messenger_answer_has_quick_replies_that_send_their_payload(servers, providers):
    graph = providers[1]
    psid = str(uuid.uuid4().int)[:16]
    body = fb_event(psid, {"text": "does it hurt?"})
    assert fb_post(servers, body, fb_sign(body)).status_code == 200
    graph.wait_for(
        lambda _: any(
            "cramp" in r.body["message"].get("text", "")
            for r in messages_to(graph, psid)
        )
    )
    answer = messages_to(graph, psid)[-1]
    assert answer.query["access_token"] == FB_PAGE_TOKEN
    assert answer.body["messaging_type"] == "RESPONSE"
    replies = answer.body["message"]["quick_replies"]
    assert [r["payload"] for r in replies] == HURT_PAYLOADS
    assert all(r["content_type"] == "text" and r["title"] for r in replies)

    count = len(messages_to(graph, psid))
    tap = fb_event(
        psid, {"text": "Aftercare", "quick_reply": {"payload": "/faq_aftercare"}}
    )
    assert fb_post(servers, tap, fb_sign(tap)).status_code == 200
    graph.wait_for(lambda _: len(messages_to(graph, psid)) > count)
    assert (
        "drink water, do some gentle stretching"
        in messages_to(graph, psid)[-1].body["message"]["text"]
    )


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "sha1=whatever", fb_sign(b"other", FB_SECRET)],
)
def test_messenger_rejects_unsigned_and_missigned_webhooks(
    servers, providers, signature
):
    psid = str(uuid.uuid4().int)[:16]
    body = fb_event(psid, {"text": "does it hurt?"})
    assert fb_post(servers, body, signature).status_code == 403
    assert user_events(servers, f"messenger:{psid}") == []
    assert messages_to(providers[1], psid) == []


def test_messenger_subscription_check(servers):
    url = f"{servers.url}/webhooks/facebook/webhook"
    ok = requests.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": FB_VERIFY,
            "hub.challenge": "1158201444",
        },
        timeout=30,
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = requests.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "guess",
            "hub.challenge": "1158201444",
        },
        timeout=30,
    )
    assert wrong.status_code == 403 and "1158201444" not in wrong.text


# Telegram


def tg_post(servers: Servers, update: dict, secret: str | None):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    return requests.post(
        f"{servers.url}/webhooks/telegram/webhook",
        json=update,
        headers=headers,
        timeout=60,
    )


def tg_user(chat_id: int) -> dict:
    return {"id": chat_id, "is_bot": False, "first_name": "Pat"}


def tg_message(chat_id: int, text: str) -> dict:
    return {
        "update_id": uuid.uuid4().int % 10**9,
        "message": {
            "message_id": 7,
            "from": tg_user(chat_id),
            "chat": {"id": chat_id, "type": "private", "first_name": "Pat"},
            "date": 1700000000,
            "text": text,
        },
    }


def sent_to(telegram: TelegramStandIn, chat_id: int) -> list[Received]:
    return [
        r
        for r in telegram.calls("/sendMessage")
        if r.body.get("chat_id") == str(chat_id)
    ]


def test_telegram_registers_its_webhook_with_the_secret_token(servers, providers):
    telegram = providers[2]
    calls = telegram.wait_for(lambda r: any(c.path.endswith("/setWebhook") for c in r))
    webhook = next(c for c in calls if c.path.endswith("/setWebhook"))
    assert webhook.path == f"/bot{TG_TOKEN}/setWebhook"
    assert webhook.body["url"] == TG_PUBLIC_URL
    assert webhook.body["secret_token"] == TG_SECRET


def test_telegram_answer_has_an_inline_keyboard_whose_buttons_work(servers, providers):
    telegram = providers[2]
    chat_id = uuid.uuid4().int % 10**9
    response = tg_post(servers, tg_message(chat_id, "does it hurt?"), TG_SECRET)
    assert response.status_code == 200
    telegram.wait_for(
        lambda _: any("cramp" in r.body["text"] for r in sent_to(telegram, chat_id))
    )
    answer = sent_to(telegram, chat_id)[-1]
    keyboard = json.loads(answer.body["reply_markup"])["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == HURT_PAYLOADS
    assert all(len(row) == 1 and row[0]["text"] for row in keyboard)

    count = len(sent_to(telegram, chat_id))
    tap = {
        "update_id": uuid.uuid4().int % 10**9,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": tg_user(chat_id),
            "message": {
                "message_id": 8,
                "chat": {"id": chat_id, "type": "private"},
                "date": 1700000000,
                "text": answer.body["text"],
            },
            "chat_instance": "-1",
            "data": "/faq_aftercare",
        },
    }
    assert tg_post(servers, tap, TG_SECRET).status_code == 200
    telegram.wait_for(lambda _: len(sent_to(telegram, chat_id)) > count)
    assert (
        "drink water, do some gentle stretching"
        in sent_to(telegram, chat_id)[-1].body["text"]
    )
    acks = telegram.calls("/answerCallbackQuery")
    assert any(a.body["callback_query_id"] == "4382bfdwdsb323b2d9" for a in acks)


@pytest.mark.parametrize("secret", [None, "tg-secret-tokeN", "guess"])
def test_telegram_rejects_updates_without_the_secret_token(servers, providers, secret):
    chat_id = uuid.uuid4().int % 10**9
    response = tg_post(servers, tg_message(chat_id, "does it hurt?"), secret)
    assert response.status_code == 403
    assert user_events(servers, f"telegram:{chat_id}") == []
    assert sent_to(providers[2], chat_id) == []
