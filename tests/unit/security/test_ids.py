"""Conversation ids are the server's: namespaced per channel, and the
widget's issued with enough randomness and a MAC that made-up ids fail."""

from __future__ import annotations

import base64

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.channels.ids import WidgetIds
from bot.channels.incoming import incoming
from bot.conversation_ids import NAMESPACES, conversation_id, provider_id, split_id


def test_each_channel_has_its_own_namespace():
    assert len(set(NAMESPACES.values())) == len(NAMESPACES)
    assert conversation_id("telegram", "720000002") == "telegram:720000002"
    assert conversation_id("whatsapp", "+61411111101") == "whatsapp:+61411111101"
    assert conversation_id("facebook", "123") == "messenger:123"
    assert conversation_id("rest", "720000002") == "rest:720000002"


@pytest.mark.parametrize(
    "claimed", ["720000002", "telegram:720000002", "whatsapp:+61411111101", "web:x"]
)
def test_a_rest_sender_claiming_another_channels_id_stays_in_rest(claimed):
    conversation = conversation_id("rest", claimed)
    assert conversation.startswith("rest:")
    assert split_id(conversation) == ("rest", claimed)
    assert provider_id(conversation) == claimed


def test_ids_from_before_namespacing_belong_to_no_channel():
    assert split_id("720000002") == (None, "720000002")
    assert split_id("default") == (None, "default")


def test_widget_ids_carry_at_least_128_random_bits_and_differ():
    ids = WidgetIds("key")
    issued = {ids.issue() for _ in range(1000)}
    assert len(issued) == 1000
    random_part = next(iter(issued)).split(".")[0]
    assert len(base64.urlsafe_b64decode(random_part + "==")) * 8 >= 128


def test_only_issued_widget_ids_are_recognised():
    ids = WidgetIds("key")
    good = ids.issue()
    assert ids.issued(good)
    random_part, mac = good.split(".")
    forged = [
        None,
        42,
        "",
        "whatsapp:+61411111101",
        "720000002",
        random_part,
        f"{random_part}.{'A' * 22}",
        f"{'B' * 24}.{mac}",
        good + "x",
        good.upper(),
    ]
    assert not any(ids.issued(f) for f in forged)
    assert not WidgetIds("another key").issued(good)
    assert WidgetIds("key").issued(good)  # same key: another instance agrees


def test_without_a_key_ids_are_still_unguessable(caplog):
    ids = WidgetIds(None)
    assert ids.issued(ids.issue())
    assert "WIDGET_SECRET" in caplog.text


async def test_incoming_puts_the_sender_in_the_channels_namespace_and_replies_to_it():
    seen: list[UserMessage] = []

    async def rasa(message: UserMessage) -> None:
        seen.append(message)
        await message.output_channel.send_response(message.sender_id, {"text": "hello"})

    collector = CollectingOutputChannel()
    handle = incoming(rasa, "rest")
    await handle(UserMessage("hi", collector, "telegram:720000002", "telegram"))
    assert seen[0].sender_id == "rest:telegram:720000002"
    assert collector.messages == [
        {"recipient_id": "telegram:720000002", "text": "hello"}
    ]


def test_an_unknown_channel_has_no_namespace():
    async def rasa(message):
        return None

    with pytest.raises(ValueError):
        incoming(rasa, "carrier-pigeon")


async def test_a_lock_timeout_is_answered_not_left_empty():
    from rasa.core.lock_store import LockError

    from bot.channels.floods import LOCK_REPLY

    async def rasa(message: UserMessage) -> None:
        raise LockError("Could not acquire lock for conversation_id 'rest:me'.")

    collector = CollectingOutputChannel()
    await incoming(rasa, "rest")(UserMessage("hi", collector, "me", "rest"))
    assert collector.messages == [{"recipient_id": "me", "text": LOCK_REPLY}]
