"""A provider delivering the same message twice (a retry after a timeout)
gets its 200 both times, and the conversation has one turn. Requests are
signed the providers' way (twilio's RequestValidator for WhatsApp)."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.e2e import test_channels_e2e as wire


@pytest.fixture(scope="module")
def servers(channel_servers):
    return channel_servers


def settled(count, timeout: float = 10) -> int:
    """The number of replies once it stops changing."""
    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif now and time.monotonic() - since > 1:
            break
        time.sleep(0.1)
    return last


def test_a_whatsapp_message_sent_twice_is_one_turn(servers, providers):
    from twilio.request_validator import RequestValidator

    twilio = providers[0]
    sender = wire.whatsapp_number()
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "SmsMessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": wire.TWILIO_SID,
        "From": sender,
        "To": f"whatsapp:{wire.CLINIC_NUMBER}",
        "Body": "does it hurt?",
        "NumMedia": "0",
    }
    signature = RequestValidator(wire.TWILIO_TOKEN).compute_signature(
        wire.TWILIO_PUBLIC_URL, form
    )
    assert wire.twilio_post(servers, form, signature).status_code == 200
    first = settled(lambda: len(wire.bodies_to(twilio, sender)))
    assert first >= 1
    assert wire.twilio_post(servers, form, signature).status_code == 200
    assert settled(lambda: len(wire.bodies_to(twilio, sender)), 3) == first
    assert len(wire.user_events(servers, sender)) == 1


def test_a_messenger_event_sent_twice_is_one_turn(servers, providers):
    graph = providers[1]
    psid = str(uuid.uuid4().int)[:16]
    body = wire.fb_event(psid, {"text": "does it hurt?"})
    signature = wire.fb_sign(body)
    assert wire.fb_post(servers, body, signature).status_code == 200
    first = settled(lambda: len(wire.messages_to(graph, psid)))
    assert wire.fb_post(servers, body, signature).status_code == 200
    assert settled(lambda: len(wire.messages_to(graph, psid)), 3) == first
    assert len(wire.user_events(servers, f"messenger:{psid}")) == 1


def test_a_telegram_update_sent_twice_is_one_turn(servers, providers):
    telegram = providers[2]
    chat_id = int(str(uuid.uuid4().int)[:9])
    update = wire.tg_message(chat_id, "does it hurt?")
    assert wire.tg_post(servers, update, wire.TG_SECRET).status_code == 200
    first = settled(lambda: len(wire.sent_to(telegram, chat_id)))
    assert wire.tg_post(servers, update, wire.TG_SECRET).status_code == 200
    assert settled(lambda: len(wire.sent_to(telegram, chat_id)), 3) == first
    assert len(wire.user_events(servers, f"telegram:{chat_id}")) == 1


def test_different_messages_with_different_ids_are_all_handled(servers, providers):
    twilio = providers[0]
    sender = wire.whatsapp_number()
    for text in ("does it hurt?", "what are the side effects?"):
        assert wire.whatsapp_says(servers, sender, text).status_code == 200
    settled(lambda: len(wire.bodies_to(twilio, sender)))
    assert len(wire.user_events(servers, sender)) == 2
