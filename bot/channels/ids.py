"""Conversation ids: chosen by the server, one namespace per channel.

Rasa keys a conversation by whatever sender id the channel hands it, and
the clients choose those: a REST caller could post as a Telegram chat id and
a socket.io client as ``whatsapp:+61...``, and so enter someone else's
conversation, see their details and book in their name. So every message's
sender id becomes ``<namespace>:<the channel's own id>``, the namespace fixed
by the channel the message arrived on (``rest:``, ``web:``, ``whatsapp:``,
``messenger:``, ``telegram:``), and replies go out with the namespace taken
off again. The website's widget cannot prove who it is the way the
messaging apps' signed webhooks do, so its id is issued here: 144 random
bits with an HMAC, so the server can tell its own ids from made-up ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.conversation_ids import conversation_id, provider_id

logger = logging.getLogger(__name__)

RANDOM_BYTES = 18
WIDGET_ID = re.compile(r"[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}")


class ProviderAddressed(OutputChannel):
    """The channel's output, given the provider's id instead of the
    namespaced conversation id Rasa replies to."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner

    def name(self) -> str:  # type: ignore[override]
        return self.inner.name()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self.inner.send_response(provider_id(recipient_id), message)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        await self.inner.send_text_message(provider_id(recipient_id), text, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def namespaced(message: UserMessage, channel: str) -> UserMessage:
    """``message`` as Rasa should see it: in ``channel``'s namespace."""
    message.sender_id = conversation_id(channel, message.sender_id)
    message.output_channel = ProviderAddressed(message.output_channel)
    return message


class WidgetIds:
    """Issues and recognises the widget's conversation ids."""

    def __init__(self, key: str | None) -> None:
        if not key:
            logger.warning(
                "WIDGET_SECRET is not set: widget conversations will not "
                "survive a restart of this process"
            )
            key = secrets.token_urlsafe(32)
        self.key = key.encode("utf8")

    def _mac(self, random_part: str) -> str:
        digest = hmac.new(self.key, random_part.encode("ascii"), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:16]).decode().rstrip("=")

    def issue(self) -> str:
        random_part = secrets.token_urlsafe(RANDOM_BYTES)
        return f"{random_part}.{self._mac(random_part)}"

    def issued(self, candidate: Any) -> bool:
        """True only for an id this server (or one sharing its key) issued."""
        if not isinstance(candidate, str) or not WIDGET_ID.fullmatch(candidate):
            return False
        random_part, mac = candidate.split(".")
        return hmac.compare_digest(mac, self._mac(random_part))
