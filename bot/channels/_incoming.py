"""Hand one incoming messaging-app message to Rasa."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic.request import Request

logger = logging.getLogger(__name__)


async def pass_on(
    channel: InputChannel,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    text: str,
    sender: str,
    request: Request,
    output: OutputChannel | None = None,
) -> None:
    """Errors are logged, not returned: the provider still gets its 200,
    because it cannot fix them and would only redeliver the same message
    (and, if the webhook keeps failing, disable it)."""
    try:
        await on_new_message(
            UserMessage(
                text,
                output or channel.get_output_channel(),
                sender,
                input_channel=channel.name(),
                metadata=channel.get_metadata(request),
            )
        )
    except Exception:
        logger.exception("Could not handle a %s message", channel.name())
