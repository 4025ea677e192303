"""Every channel's hand-off to Rasa answers each question of a message."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from sanic.exceptions import SanicException

from bot.nlp.questions import split_questions

logger = logging.getLogger(__name__)
Handler = Callable[[UserMessage], Awaitable[Any]]


def current_agent() -> Any | None:
    """The Rasa agent serving this process, once the server has started."""
    try:
        return Sanic.get_app().ctx.agent
    except (AttributeError, LookupError, SanicException):
        return None


def answer_each_question(on_new_message: Handler) -> Handler:
    """Wrap a channel's ``on_new_message``: a message that asks two or three
    questions is handed to Rasa as that many messages, in the order asked, so
    each gets its full answer (bot.nlp.questions says when)."""

    async def handle(message: UserMessage) -> Any:
        text = message.text or ""
        agent = current_agent()
        if agent is None or not text or text.startswith("/"):
            return await on_new_message(message)
        try:
            parts = await split_questions(text, agent.parse_message)
        except Exception:  # noqa: BLE001 - never lose the message over a split
            logger.exception("could not check a message for several questions")
            parts = [text]
        if len(parts) == 1:
            return await on_new_message(message)
        result = None
        for number, part in enumerate(parts, start=1):
            metadata = {
                **(message.metadata or {}),
                "split_from": text,
                "part": number,
                "parts": len(parts),
            }
            result = await on_new_message(
                UserMessage(
                    part,
                    message.output_channel,
                    message.sender_id,
                    input_channel=message.input_channel,
                    metadata=metadata,
                )
            )
        return result

    return handle
