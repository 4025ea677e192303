"""Rasa's side of a live handoff, as two patches (bot/rasa/extensions.py).

- Messages the console sends through Rasa's HTTP API go out on the output
  of the channel the conversation was opened on, and only that one: its
  namespace (``web:``, ``telegram:``, bot/channels/ids.py) says which, and
  the reply is addressed to the id that channel issued, as replies to
  incoming messages are. Rasa's own choice (``output_channel=latest``, the
  tracker's latest input channel) is not used: a client could once name its
  own input channel, and a staff reply must never leave through another
  channel or to another id. An explicit request for a different channel is
  refused (400) before anything is added to the conversation; a
  conversation with no namespace gets no output at all.
- A conversation handed to a person is paused, and Rasa then handles
  nothing in it. A patient who writes something that sounds like an
  emergency while waiting for reception must still get the emergency advice
  at once, so that intent is handled even then; everything else waits for
  the person.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel

from bot.channels.ids import ProviderAddressed
from bot.conversation_ids import split_id
from bot.rasa import extensions

logger = logging.getLogger(__name__)

HANDLED_WHILE_PAUSED = frozenset({"emergency"})
OUTPUT_CHANNEL = "output_channel"
LATEST = "latest"


def home_channel(conversation_id: str) -> str | None:
    """The name of the channel ``conversation_id`` belongs to, if any."""
    return split_id(conversation_id)[0]


def refused_channel(conversation_id: str | None, requested: str | None) -> bool:
    """True when a request asks for output on a channel the conversation was
    not opened on."""
    if not requested or requested == LATEST or conversation_id is None:
        return False
    return requested != home_channel(conversation_id)


def output_channel(request: Any, tracker: Any) -> OutputChannel:
    requested = request.args.get(OUTPUT_CHANNEL)
    if not requested or tracker is None:
        return extensions.original("bot.rasa.live_handoff:output_channel")(
            request, tracker
        )
    home = home_channel(tracker.sender_id)
    if home is None or refused_channel(tracker.sender_id, requested):
        return CollectingOutputChannel()
    for channel in getattr(request.app.ctx, "input_channels", None) or []:
        if channel.name() == home:
            output = channel.get_output_channel()
            if output is not None:
                return ProviderAddressed(output)
    return CollectingOutputChannel()


def should_handle_message(tracker: Any) -> bool:
    original = extensions.original("bot.rasa.live_handoff:should_handle_message")
    if original(tracker):
        return True
    latest = tracker.latest_message
    return latest is not None and latest.intent.get("name") in HANDLED_WHILE_PAUSED
