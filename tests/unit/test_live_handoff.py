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

from bot.rasa import extensions


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


def test_ids_no_channel_issued_get_no_output():
    """A bare id (from before namespacing, or made up through the API) has
    no channel that issued it: nothing is sent anywhere."""
    old = rasa.server._get_output_channel(
        request_for(Telegram()), tracker("4242", "greet")
    )
    assert isinstance(old, CollectingOutputChannel)
    nowhere = rasa.server._get_output_channel(
        request_for(), tracker("telegram:4242", "greet")
    )
    assert isinstance(nowhere, CollectingOutputChannel)


class Widget(Telegram):
    output = Recording()

    @classmethod
    def name(cls) -> str:
        return "socketio"


async def test_latest_means_the_conversations_own_channel_not_the_claimed_one():
    """A REST conversation whose latest message claimed to come from the
    widget: a staff reply must not reach the widget with the same id."""
    claimed = DialogueStateTracker.from_events(
        "rest:abc.def",
        [UserUttered("hi", {"name": "greet"}, input_channel="socketio")],
        slots=Domain.empty().slots,
    )
    output = rasa.server._get_output_channel(request_for(Widget()), claimed)
    assert isinstance(output, CollectingOutputChannel)


@pytest.mark.parametrize("asked", ["socketio", "facebook", "whatsapp", "rest"])
def test_another_channel_than_the_conversations_is_never_used(asked):
    request = request_for(Telegram(), Widget())
    request.args = {"output_channel": asked}
    output = rasa.server._get_output_channel(request, tracker("telegram:42", "greet"))
    assert isinstance(output, CollectingOutputChannel)


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
