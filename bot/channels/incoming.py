"""One step every channel's messages go through before Rasa sees them.

REST, socket.io, WhatsApp, Messenger and Telegram all hand their messages to
Rasa through ``incoming(on_new_message)``, so each is cleaned the same way:
Unicode NFC, control and bidi characters removed, whitespace collapsed, cut
to 2,000 characters with a note (an emergency phrase in the part cut off is
kept), and something that is not text, or nothing once cleaned, gets a polite
reply instead of a turn. Then two questions in one message are split
(``bot.channels._questions``), and each message is put in its channel's
namespace of conversation ids (``bot.channels.ids``).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from functools import lru_cache
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import LockError

from bot.channels._questions import answer_each_question
from bot.channels.floods import LOCK_REPLY
from bot.channels.ids import namespaced
from bot.conversation_ids import NAMESPACES

logger = logging.getLogger(__name__)
Handler = Callable[[UserMessage], Awaitable[Any]]

MAX_TEXT = 2000
EMPTY_REPLY = (
    "I didn't get any text there. Please type a question, "
    'for example "Does dry needling hurt?"'
)
NOT_TEXT_REPLY = (
    "Sorry, I can only read typed messages. Please type your question, "
    'for example "Does dry needling hurt?"'
)
LONG_NOTE = "That was a long message, so I've read only its first 2,000 characters."
# Tab, line and paragraph breaks: become spaces.
SPACE_LIKE = re.compile("[\t\n\v\f\r\x85\u2028\u2029]")
# Removed: other C0/C1 controls; bidi embeddings, overrides and isolates
# (they make stored text display differently from what it says); zero-width
# space, word joiner and BOM (invisible, they split words for NLU; the
# zero-width joiner stays, emoji need it); lone surrogates (JSON allows them,
# UTF-8 cannot store them).
INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u200b\u202a-\u202e"
    "\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)


def has_invisible(text: str) -> bool:
    return bool(INVISIBLE.search(text) or SPACE_LIKE.search(text))


def clean_text(text: str) -> str:
    """NFC, control and bidi characters removed, whitespace collapsed to single
    spaces, so NLU, the forms and the stored booking see what the user saw."""
    text = SPACE_LIKE.sub(" ", INVISIBLE.sub("", text))
    return unicodedata.normalize("NFC", " ".join(text.split()))


def cut_at_word(text: str, limit: int) -> str:
    """At most ``limit`` characters, at the last space in the second half,
    else hard at the limit (one endless word)."""
    if len(text) <= limit:
        return text
    space = text.rfind(" ", 0, limit + 1)
    return text[:space] if space > limit // 2 else text[:limit]


def first_red_flag(text: str, red_flags: Iterable[re.Pattern]) -> str | None:
    """The first red-flag phrase in ``text``, matched like the NLU guard does."""
    text = text.replace("’", "'")
    for pattern in red_flags:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


def shorten_text(
    text: str, limit: int = MAX_TEXT, red_flags: Iterable[re.Pattern] = ()
) -> str:
    """``text`` cut to ``limit`` characters at a word boundary.

    NLU time and tracker size grow with the length of a message and no real
    question needs more than a few sentences, so a pasted essay is cut, not
    refused: the user still gets an answer. A red-flag (emergency) phrase in
    the part cut off is kept at the end, since missing an emergency is the one
    mistake the bot must not make.
    """
    head = cut_at_word(text, limit)
    if head == text:
        return text
    flag = first_red_flag(text[len(head) :], red_flags)
    if flag is None or first_red_flag(head, red_flags) is not None:
        return head
    return cut_at_word(text, limit - len(flag) - 1) + " " + flag


@lru_cache(maxsize=1)
def red_flags() -> tuple[re.Pattern, ...]:
    from bot.nlp.guard import load_red_flags

    return tuple(load_red_flags())


def prepare_text(text: str) -> str:
    return shorten_text(clean_text(text), MAX_TEXT, red_flags())


async def _reply(message: UserMessage, text: str) -> None:
    await message.output_channel.send_text_message(message.sender_id, text)


def clean_incoming(on_new_message: Handler) -> Handler:
    """The cleaning step (module docstring) in front of ``on_new_message``."""

    async def handle(message: UserMessage) -> Any:
        raw = message.text
        if not isinstance(raw, str):
            logger.info("non-text message from a %s user", message.input_channel)
            return await _reply(message, NOT_TEXT_REPLY)
        cleaned = clean_text(raw)
        if not cleaned:
            return await _reply(message, EMPTY_REPLY)
        text = shorten_text(cleaned, MAX_TEXT, red_flags())
        if text != cleaned:
            await _reply(message, LONG_NOTE)
        message.text = text
        return await on_new_message(message)

    return handle


def in_namespace(on_new_message: Handler, channel: str) -> Handler:
    """Sender ids put in ``channel``'s namespace, whatever the client sent."""
    if channel not in NAMESPACES:
        raise ValueError(f"no conversation id namespace for channel {channel!r}")

    async def handle(message: UserMessage) -> Any:
        message = namespaced(message, channel)
        try:
            return await on_new_message(message)
        except LockError:
            # The conversation stayed busy for the lock's whole lifetime:
            # say so rather than send nothing.
            logger.warning("conversation lock timed out for a %s message", channel)
            await _reply(message, LOCK_REPLY)

    return handle


def incoming(on_new_message: Handler, channel: str) -> Handler:
    """What every channel wraps its ``on_new_message`` in; ``channel`` is the
    channel's own name, never anything the request says."""
    return clean_incoming(answer_each_question(in_namespace(on_new_message, channel)))
