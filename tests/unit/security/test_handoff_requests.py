"""Asking for a person, as someone trying to flood reception with handoffs
would: each handoff emails staff, so repeats from one conversation or one
client address are bounded, and asking again while waiting is one request."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk.events import ConversationPaused

from actions import handoff
from actions.delivery import pending_deliveries
from bot.channels.floods import CLIENT_KEY, client_tag, with_client
from bot.handoff.queue import PER_CLIENT, PER_CONVERSATION
from tests.conftest import make_tracker

OPEN_HOURS = datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Australia/Brisbane"))


@pytest.fixture(autouse=True)
def open_clinic(monkeypatch):
    monkeypatch.setattr(handoff, "now", lambda: OPEN_HOURS)


def asking(sender: str, message_id: str, client: str | None = "203.0.113.9"):
    tracker = make_tracker("can I talk to a real person", "human_handoff")
    tracker.sender_id = sender
    tracker.latest_message["message_id"] = message_id
    if client is not None:
        tracker.latest_message["metadata"] = with_client({}, client)
    return tracker


async def ask(dispatcher, domain, tracker) -> tuple[str, list]:
    dispatcher.messages.clear()
    events = await handoff.ActionHandoffHuman().run(dispatcher, tracker, domain)
    return dispatcher.messages[0]["response"], events


async def test_asking_again_while_waiting_emails_staff_once(dispatcher, domain, store):
    for n in range(4):
        said, events = await ask(dispatcher, domain, asking("rest:pat", f"m{n}"))
        assert said == "utter_handoff_open" and ConversationPaused() in events
    await pending_deliveries()
    assert len(store.sent) == 1
    assert len(store.handoffs.open()) == 1


async def test_one_conversation_asking_over_and_over_is_told_to_call(
    dispatcher, domain, store
):
    for n in range(PER_CONVERSATION):
        said, _ = await ask(dispatcher, domain, asking("rest:pat", f"m{n}"))
        assert said == "utter_handoff_open"
        [waiting] = store.handoffs.open()
        store.handoffs.hand_back(waiting.id)
    said, events = await ask(dispatcher, domain, asking("rest:pat", "again"))
    assert said == "utter_handoff_limited" and events == []
    assert dispatcher.messages[0]["phone"]
    assert store.handoffs.open() == []
    await pending_deliveries()
    assert len(store.sent) == PER_CONVERSATION


async def test_many_conversations_from_one_address_are_bounded(
    dispatcher, domain, store
):
    """A REST client can name a new sender for every request; its address
    is the same."""
    for n in range(PER_CLIENT):
        said, _ = await ask(dispatcher, domain, asking(f"rest:bot{n}", "m"))
        assert said == "utter_handoff_open"
    said, events = await ask(dispatcher, domain, asking("rest:bot-next", "m"))
    assert said == "utter_handoff_limited" and events == []
    other, _ = await ask(
        dispatcher, domain, asking("web:someone-else", "m", client="198.51.100.7")
    )
    assert other == "utter_handoff_open"
    await pending_deliveries()
    assert len(store.sent) == PER_CLIENT + 1


def test_the_client_tag_is_the_servers_and_does_not_give_the_address_back():
    assert with_client({CLIENT_KEY: "forged", "page": "/"}, "203.0.113.9") == {
        CLIENT_KEY: client_tag("203.0.113.9"),
        "page": "/",
    }
    assert "203.0.113.9" not in client_tag("203.0.113.9")
    assert client_tag("203.0.113.9") != client_tag("203.0.113.10")


async def test_long_ids_that_share_a_prefix_are_separate_handoffs(
    dispatcher, domain, store
):
    """The request's key is cut to its column; two long senders sharing the
    first 200 characters must not be one request."""
    prefix = "x" * 240
    for n, client in enumerate(("192.0.2.1", "192.0.2.2")):
        said, _ = await ask(
            dispatcher, domain, asking(f"rest:{prefix}{n}", "m", client=client)
        )
        assert said == "utter_handoff_open"
    assert sorted(h.conversation_id for h in store.handoffs.open()) == [
        f"rest:{prefix}0",
        f"rest:{prefix}1",
    ]
