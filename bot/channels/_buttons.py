"""Buttons as a numbered list, for apps that have no buttons (WhatsApp).

A reply of "2" or of an option's text stands for that option's payload. The
options come from the conversation's tracker, not from memory, because a
later message may reach another Rasa instance.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from rasa.shared.core.events import BotUttered, Event, UserUttered

logger = logging.getLogger(__name__)

_NUMBER = re.compile(r"(\d{1,2})[.)]?")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


def numbered_list(buttons: list[dict[str, Any]]) -> str:
    lines = [f"{n}. {b.get('title', '')}" for n, b in enumerate(buttons, start=1)]
    return "\n".join([*lines, "Reply with a number to choose."])


def _normalise(text: str) -> str:
    """Case, curly quotes (phone keyboards), spacing and end punctuation
    should not stop an option's text from matching."""
    text = " ".join(text.translate(_QUOTES).casefold().split())
    return text.rstrip(" ?!.")


def resolve_reply(text: str, buttons: list[dict[str, Any]]) -> str:
    """The payload ``text`` chooses among ``buttons``, else ``text`` itself."""
    if not buttons:
        return text
    number = _NUMBER.fullmatch(text.strip())
    if number:
        index = int(number.group(1))
        if 1 <= index <= len(buttons):
            return buttons[index - 1].get("payload") or text
        return text
    wanted = _normalise(text)
    for button in buttons:
        if wanted and _normalise(str(button.get("title", ""))) == wanted:
            return button.get("payload") or text
    return text


def offered_buttons(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The buttons of the latest bot message since the user last spoke."""
    for event in reversed(list(events)):
        if isinstance(event, UserUttered):
            return []
        if isinstance(event, BotUttered):
            buttons = event.data.get("buttons") or event.data.get("quick_replies")
            if buttons:
                return list(buttons)
    return []


async def last_buttons(agent: Any, sender_id: str) -> list[dict[str, Any]]:
    """Buttons last offered to ``sender_id``, read from the tracker store.

    Any failure means no options: the text then goes to NLU unchanged.
    """
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return []
    try:
        tracker = await store.retrieve(sender_id)
    except Exception:
        logger.exception("Could not read the tracker to map a numbered reply")
        return []
    return offered_buttons(tracker.events) if tracker else []
