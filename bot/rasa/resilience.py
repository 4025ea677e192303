"""When the action server is down or slow, say so within two seconds.

Rasa 3.6 waits up to five minutes for a custom action and, when it fails,
logs the error and sends nothing: the user sees silence. Here every call to
the action server has a short deadline, and a failure becomes a short
apology with the clinic's phone number. A form answer that could not be
checked is not kept (the question is asked again), and the submit actions
never report success unless they ran, so nothing is silently lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from bot.rasa import extensions
from bot.settings import ACTION_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

ACTION_SESSION_START = "action_session_start"
APOLOGY_PREFIX = "Sorry, something went wrong on our side"
APOLOGY = (
    APOLOGY_PREFIX + " and I couldn't finish that. "
    "Please try again in a minute, or call the clinic on {phone}."
)
# A submit that missed its deadline may still have been stored (a retry with
# the same answers is not stored twice), so never say it was not.
SUBMIT_APOLOGY = (
    APOLOGY_PREFIX + " and I can't confirm your request "
    "reached the clinic. Please try again in a minute (it won't be sent "
    "twice), or call the clinic on {phone}."
)

# The messages already apologised for, by conversation and message id: not
# by output channel, which some channels (Telegram) share between users.
_apologised: OrderedDict[tuple, None] = OrderedDict()
REMEMBERED_MESSAGES = 4096


_timeout = ACTION_TIMEOUT_SECONDS
UNKNOWN_PHONE = "the number on our website"
_phone = UNKNOWN_PHONE


def timeout_seconds() -> float:
    return _timeout


def apology_text(action_name: str = "") -> str:
    text = SUBMIT_APOLOGY if action_name.startswith("action_submit_") else APOLOGY
    return text.format(phone=_phone)


def fallback_events(action_name: str, tracker, _output_channel) -> list:
    """One apology per incoming message (Rasa sends the BotUttered); an
    unchecked form answer is dropped so the question is asked again."""
    from rasa.shared.core.events import BotUttered, SlotSet

    events = []
    message = tracker.latest_message
    key = (tracker.sender_id, getattr(message, "message_id", None) or id(message))
    if key not in _apologised:
        _apologised[key] = None
        if len(_apologised) > REMEMBERED_MESSAGES:
            _apologised.popitem(last=False)
        events.append(BotUttered(text=apology_text(action_name)))
    requested = tracker.get_slot("requested_slot")
    if action_name.startswith("validate_") and requested:
        events.append(SlotSet(requested, None))
    return events


def _connection_dropped(error: Exception) -> bool:
    """Rasa turns an aiohttp connection error into a ``RasaException`` raised
    inside its handler: the connection closed (or never opened) before an
    answer came. Timeouts are not retried: the deadline is already spent."""
    import aiohttp

    cause = error.__cause__ or error.__context__
    return isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(
        cause, asyncio.TimeoutError
    )


async def _run_once_more_if_dropped(self, output_channel, nlg, tracker, domain):
    """A kept-alive connection to the action server can be closed by the
    other side just as a call goes out on it (nginx closes idle connections
    when it reloads; an action server restarts): the call is sent once more
    on a new connection. If the first call did reach the action server, the
    action runs twice, which every action allows: the submits and the
    handoff's email are deduplicated by the store, the rest only read or
    ask."""
    from rasa.shared.exceptions import RasaException

    run = extensions.original("bot.rasa.resilience:run_with_deadline")
    try:
        return await run(self, output_channel, nlg, tracker, domain)
    except RasaException as error:
        if not _connection_dropped(error):
            raise
        logger.warning(
            "custom action %s: the connection to the action server closed "
            "before an answer; sending the call once more",
            self.name(),
        )
        return await run(self, output_channel, nlg, tracker, domain)


async def run_with_deadline(self, output_channel, nlg, tracker, domain):
    from rasa.core.actions.action import ActionExecutionRejection

    try:
        return await asyncio.wait_for(
            _run_once_more_if_dropped(self, output_channel, nlg, tracker, domain),
            timeout=timeout_seconds(),
        )
    except ActionExecutionRejection:
        raise
    except Exception as error:  # noqa: BLE001 - anything else is "server trouble"
        logger.error(
            "custom action %s failed (%s: %s); apologising",
            self.name(),
            type(error).__name__,
            error,
        )
        if self.name() == ACTION_SESSION_START:
            return await _plain_session_start(output_channel, nlg, tracker, domain)
        return fallback_events(self.name(), tracker, output_channel)


async def _plain_session_start(output_channel, nlg, tracker, domain) -> list:
    """The session must start even without the action server: Rasa's own
    session start (the contact details are then not carried over)."""
    from rasa.core.actions.action import ActionSessionStart

    return await ActionSessionStart().run(output_channel, nlg, tracker, domain)


def configure(timeout: float, phone: str | None = None) -> None:
    """Every custom action call gets ``timeout`` seconds
    (``Settings.action_timeout_seconds``); an apology gives ``phone`` (the
    clinic's). The patch itself is installed by bot/rasa/extensions.py."""
    global _timeout, _phone
    _timeout = timeout
    _phone = phone or UNKNOWN_PHONE
