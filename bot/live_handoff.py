"""Rasa's side of a live handoff, as two patches (bot/extensions.py).

- Messages the console sends through Rasa's HTTP API (``output_channel=
  latest``) go out on the channel's output, which Rasa hands the tracker's
  sender id. Ours are namespaced (``web:<id>``, ``telegram:<chat>``,
  bot/channels/ids.py), so the reply must be addressed to the provider's
  own id, as replies to incoming messages are.
- A conversation handed to a person is paused, and Rasa then handles
  nothing in it. A patient who writes something that sounds like an
  emergency while waiting for reception must still get the emergency advice
  at once, so that intent is handled even then; everything else waits for
  the person.
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel

from bot import extensions
from bot.channels.ids import ProviderAddressed, split_id

HANDLED_WHILE_PAUSED = frozenset({"emergency"})


def output_channel(request: Any, tracker: Any) -> OutputChannel:
    original = extensions.original("bot.live_handoff:output_channel")
    channel = original(request, tracker)
    if isinstance(channel, CollectingOutputChannel | ProviderAddressed):
        return channel
    if tracker is None or split_id(tracker.sender_id)[0] is None:
        return channel
    return ProviderAddressed(channel)


def should_handle_message(tracker: Any) -> bool:
    original = extensions.original("bot.live_handoff:should_handle_message")
    if original(tracker):
        return True
    latest = tracker.latest_message
    return latest is not None and latest.intent.get("name") in HANDLED_WHILE_PAUSED
