"""Conversation ids as plain strings: which channel's namespace an id is
in, and the short handle that may be printed instead of it.

Kept apart from ``bot.channels.ids`` (which builds on Rasa's channel
classes) so the website, the logs and the console can use them without
importing Rasa.
"""

from __future__ import annotations

import hashlib

NAMESPACES = {
    "rest": "rest",
    "socketio": "web",
    "whatsapp": "whatsapp",
    "facebook": "messenger",
    "telegram": "telegram",
}


def conversation_id(channel: str, provider_id: str) -> str:
    """The tracker's key for ``provider_id`` arriving on ``channel``."""
    return f"{NAMESPACES[channel]}:{provider_id}"


def split_id(conversation: str) -> tuple[str | None, str]:
    """``(channel, provider id)``; ``(None, id)`` for an id from before
    namespacing (or from Rasa's own API), which no channel can reach."""
    prefix, _, rest = conversation.partition(":")
    for channel, namespace in NAMESPACES.items():
        if prefix == namespace and rest:
            return channel, rest
    return None, conversation


def provider_id(conversation: str) -> str:
    return split_id(conversation)[1]


def channel_of(conversation: str) -> str | None:
    """The channel a conversation was opened on, from its namespace: never
    what a client said, nor the latest input channel Rasa recorded."""
    return split_id(conversation)[0]


def handle(conversation: str) -> str:
    """A short name for a conversation that is safe to print (exports,
    emails, audit entries, logs): the widget's id is the patient's key to
    their chat, so it never leaves the server; the same conversation always
    gets the same handle."""
    channel, _ = split_id(conversation)
    namespace = NAMESPACES[channel] if channel else "old"
    digest = hashlib.sha256(conversation.encode("utf8")).hexdigest()[:10]
    return f"{namespace}-{digest}"
