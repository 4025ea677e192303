"""Rasa's HTTP API conversation routes: the id in the path is
percent-encoded, and output goes only to the conversation's own channel.

A conversation id can hold any character a channel allows (a REST sender
"john smith" or "ward/bed 4"), so whoever calls the API encodes it
(``bot.handoff.rasa_api.conversation_path``). Sanic 21.12 hands Rasa's
``<conversation_id:path>`` routes the raw, still encoded path, so without
this the console reading ``rest:john%20smith`` would read (and resume, and
write to) an empty conversation of that name while the patient waits in a
paused one. Rasa wraps every conversation route in ``ensure_loaded_agent``;
its replacement decodes the id once, before Rasa's handler sees it, and
refuses (400) a request asking for output on a channel the conversation was
not opened on (bot/rasa/live_handoff.py), before anything is added to it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import unquote

from bot.rasa import extensions
from bot.rasa.live_handoff import OUTPUT_CHANNEL, refused_channel


def decoded(path_part: str) -> str:
    """The id as the tracker store keys it; 400 for bytes that are not UTF-8."""
    from rasa.server import ErrorResponse

    try:
        return unquote(path_part, errors="strict")
    except UnicodeDecodeError:
        raise ErrorResponse(
            400, "BadRequest", "the conversation id is not percent-encoded UTF-8"
        ) from None


def ensure_loaded_agent(app: Any, require_core_is_ready: bool = False) -> Callable:
    original = extensions.original("bot.rasa.api_ids:ensure_loaded_agent")
    check = original(app, require_core_is_ready)

    def decorator(handler: Callable) -> Callable:
        checked = check(handler)

        @wraps(handler)
        def decorated(*args: Any, **kwargs: Any) -> Any:
            conversation_id = kwargs.get("conversation_id")
            if isinstance(conversation_id, str):
                conversation_id = kwargs["conversation_id"] = decoded(conversation_id)
                request = args[0] if args else kwargs.get("request")
                requested = request.args.get(OUTPUT_CHANNEL) if request else None
                if refused_channel(conversation_id, requested):
                    from rasa.server import ErrorResponse

                    raise ErrorResponse(
                        400,
                        "BadRequest",
                        "output_channel must be the conversation's own channel",
                    )
            return checked(*args, **kwargs)

        return decorated

    return decorator
