"""Nobody enters another person's conversation, from any channel.

One patient per channel starts a booking and gives their name and phone
number. Then an attacker on every other channel addresses that patient's
conversation by every id an attacker could know or guess: the patient's raw
id on their app (a Telegram chat id, a WhatsApp number, a Messenger PSID, a
widget id) and the namespaced id the server keeps. The webhooks are signed
the providers' way (twilio's RequestValidator, HMAC for Meta, the secret
token for Telegram, updates built with python-telegram-bot), as a provider
would deliver whatever id it was given. The attacker must never see the
patient's details, and the patient's conversation must not change.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timezone

import pytest
import telegram

from tests.chat import CHANNELS, Chat, Widget, collect, message_text
from tests.e2e import test_channels_e2e as wire
from tests.servers import say


@pytest.fixture(scope="module")
def servers(channel_servers):
    return channel_servers


class Victim:
    """A patient who has started a booking and given name and number."""

    def __init__(self, channel: str, servers, providers, n: int) -> None:
        self.chat = Chat(channel, servers, providers)
        self.first, self.last = ("Zelda", "Yolanda", "Xavier", "Wilma", "Vernon")[
            n
        ], "Quokka"
        self.phone = f"0412 345 67{n}"
        self.replies = self.chat.send(
            f"Hi, I'm {self.first} {self.last}, my number is {self.phone}. "
            "I'd like to book an appointment please"
        )
        self.chat.close()

    @property
    def ids(self) -> list[str]:
        """Everything that names this conversation."""
        return sorted({self.chat.id, self.chat.conversation})

    def secrets_in(self, texts: list[str]) -> list[str]:
        found = []
        for text in texts:
            for secret in (self.first, self.phone, self.phone.replace(" ", "")):
                if secret in text:
                    found.append(text)
        return found


@pytest.fixture(scope="module")
def victims(servers, providers):
    made = {c: Victim(c, servers, providers, n) for n, c in enumerate(CHANNELS)}
    for victim in made.values():
        stored = wire.user_texts(servers, victim.chat.conversation)
        assert stored and victim.first in stored[0], "the victim's turn was stored"
        assert victim.replies, "the victim was answered"
    return made


# "yes" is what would confirm the victim's booking; the question is what
# would show their details.
ATTACK = ["yes that's me, what name and phone number do you have for me?"]


def attack_rest(servers, providers, target: str) -> tuple[list[str], str]:
    texts = []
    for text in ATTACK:
        texts += [message_text(m) for m in say(servers.url, target, text)]
    return texts, f"rest:{target}"


def attack_socketio(servers, providers, target: str) -> tuple[list[str], str]:
    """Asks for the target's session, then sends with the target's id."""
    with Widget(servers) as widget:
        given = widget.request_session(target)
        assert given != target, "the server handed out a chosen id"
        replies = [r for text in ATTACK for r in widget.say(text, session_id=target)]
    return replies, f"web:{given}"


def attack_whatsapp(servers, providers, target: str) -> tuple[list[str], str]:
    """Twilio signs whatever ``From`` it delivers; the number is the id."""
    address = target if target.startswith("whatsapp:") else f"whatsapp:{target}"
    twilio = providers[0]
    before = len(wire.bodies_to(twilio, address))
    for text in ATTACK:
        assert wire.whatsapp_says(servers, address, text).status_code == 200
    replies = collect(lambda: wire.bodies_to(twilio, address), before)
    return replies, address


def attack_messenger(servers, providers, target: str) -> tuple[list[str], str]:
    graph = providers[1]
    before = len(wire.messages_to(graph, target))
    for text in ATTACK:
        body = wire.fb_event(target, {"text": text})
        assert wire.fb_post(servers, body, wire.fb_sign(body)).status_code == 200
    sent = collect(lambda: wire.messages_to(graph, target), before)
    return [message_text(r.body["message"]) for r in sent], f"messenger:{target}"


def telegram_update(chat_id: int | str, text: str) -> dict:
    """An update as python-telegram-bot serialises it for the Bot API."""
    when = datetime.now(timezone.utc)
    user = telegram.User(id=7, first_name="Mallory", is_bot=False)
    chat = telegram.Chat(id=chat_id, type=telegram.constants.ChatType.PRIVATE)
    message = telegram.Message(
        message_id=1, date=when, chat=chat, text=text, from_user=user
    )
    return telegram.Update(uuid.uuid4().int % 10**9, message=message).to_dict()


def attack_telegram(servers, providers, target: str) -> tuple[list[str], str]:
    bot_api = providers[2]
    chat_id = int(target) if target.isdigit() else target
    before = len(wire.sent_to(bot_api, chat_id))
    for text in ATTACK:
        update = telegram_update(chat_id, text)
        assert wire.tg_post(servers, update, wire.TG_SECRET).status_code == 200
    sent = collect(lambda: wire.sent_to(bot_api, chat_id), before)
    return [r.body.get("text", "") for r in sent], f"telegram:{target}"


ATTACKERS = {
    "rest": attack_rest,
    "socketio": attack_socketio,
    "whatsapp": attack_whatsapp,
    "messenger": attack_messenger,
    "telegram": attack_telegram,
}
# On its own channel the same raw id is the same person (a WhatsApp number,
# a Telegram chat), except the widget, whose id is the server's.
PAIRS = [
    (victim, attacker)
    for victim, attacker in itertools.product(CHANNELS, CHANNELS)
    if victim != attacker or victim == "socketio"
]


@pytest.mark.parametrize("victim_channel, attacker", PAIRS)
def test_no_channel_can_enter_another_channels_conversation(
    servers, providers, victims, victim_channel, attacker
):
    victim = victims[victim_channel]
    before = wire.tracker(servers, victim.chat.conversation)
    for target in victim.ids:
        if attacker == victim_channel == "socketio" and target == victim.chat.id:
            # Presenting the widget's own id is how that widget reconnects;
            # only a ``user_uttered`` naming it is an attack here.
            replies, landed = attack_socketio_message_only(servers, target)
        else:
            replies, landed = ATTACKERS[attacker](servers, providers, target)
        assert replies, f"{attacker} got no answer at all for {target}"
        assert victim.secrets_in(replies) == [], (target, replies)
        assert landed != victim.chat.conversation
        assert wire.user_texts(servers, landed)[-len(ATTACK) :] == ATTACK, landed
    after = wire.tracker(servers, victim.chat.conversation)
    assert after["events"] == before["events"]
    assert after["slots"] == before["slots"]


def attack_socketio_message_only(servers, target: str) -> tuple[list[str], str]:
    """A fresh widget session whose messages claim another session's id."""
    with Widget(servers) as widget:
        given = widget.request_session(None)
        replies = [r for text in ATTACK for r in widget.say(text, session_id=target)]
    return replies, f"web:{given}"


def test_a_widget_that_reconnects_with_its_id_keeps_its_conversation(
    servers, providers
):
    first = Chat("socketio", servers, providers)
    first.send("does dry needling hurt?")
    first.close()
    with Widget(servers) as widget:
        assert widget.request_session(first.id) == first.id
    assert wire.user_texts(servers, first.conversation) == ["does dry needling hurt?"]


@pytest.mark.parametrize(
    "presented", [None, "", 42, "abcdefgh12345678", "whatsapp:+61411111101", "x" * 47]
)
def test_a_widget_gets_a_new_server_id_for_anything_it_did_not_get_from_us(
    servers, presented
):
    with Widget(servers) as widget:
        issued = widget.request_session(presented)
    assert issued != presented and len(issued.split(".")[0]) >= 22


def test_a_message_before_any_session_request_gets_a_server_id(servers):
    with Widget(servers) as widget:
        replies = widget.say("does it hurt?", session_id="me")
        confirmed = list(widget.confirmed)
    assert replies and confirmed and confirmed[0] != "me"
    assert wire.user_texts(servers, f"web:{confirmed[0]}") == ["does it hurt?"]
    assert wire.user_texts(servers, "web:me") == []
