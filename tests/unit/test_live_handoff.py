"""Rasa's side of a live handoff, through Rasa's own functions as patched:
a console message reaches the patient's provider id, and an emergency is
answered even while reception has the chat."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import rasa.server
from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
)
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ConversationPaused, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import extensions


@pytest.fixture(autouse=True)
def applied():
    extensions.apply()


class Recording(OutputChannel):
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    @classmethod
    def name(cls) -> str:
        return "telegram"

    async def send_text_message(self, recipient_id: str, text: str, **_) -> None:
        self.sent.append((recipient_id, text))


class Telegram(InputChannel):
    output = Recording()

    @classmethod
    def name(cls) -> str:
        return "telegram"

    def get_output_channel(self) -> OutputChannel:
        return self.output


def request_for(*channels: InputChannel) -> SimpleNamespace:
    return SimpleNamespace(
        args={"output_channel": "latest"},
        app=SimpleNamespace(ctx=SimpleNamespace(input_channels=list(channels))),
    )


def tracker(sender: str, intent: str, paused: bool = True) -> DialogueStateTracker:
    events = [ConversationPaused()] if paused else []
    events.append(
        UserUttered(
            "text", {"name": intent, "confidence": 1.0}, input_channel="telegram"
        )
    )
    return DialogueStateTracker.from_events(sender, events, slots=Domain.empty().slots)


async def test_a_console_message_goes_to_the_providers_own_id():
    output = rasa.server._get_output_channel(
        request_for(Telegram()), tracker("telegram:4242", "greet")
    )
    await output.send_response("telegram:4242", {"text": "Hi, Jo here."})
    assert Telegram.output.sent[-1] == ("4242", "Hi, Jo here.")


def test_ids_from_before_namespacing_and_collecting_channels_are_left_alone():
    old = rasa.server._get_output_channel(
        request_for(Telegram()), tracker("4242", "greet")
    )
    assert old is Telegram.output
    nowhere = rasa.server._get_output_channel(
        request_for(), tracker("telegram:4242", "greet")
    )
    assert isinstance(nowhere, CollectingOutputChannel)


@pytest.mark.parametrize(
    "intent, handled",
    [("emergency", True), ("greet", False), ("faq_does_it_hurt", False)],
)
def test_while_paused_only_an_emergency_is_handled(intent, handled):
    assert MessageProcessor._should_handle_message(tracker("web:a", intent)) is handled


def test_not_paused_everything_is_handled():
    assert MessageProcessor._should_handle_message(
        tracker("web:a", "greet", paused=False)
    )
