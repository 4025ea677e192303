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
import os
from weakref import WeakSet

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 1.5
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

_original_run = None
_apologised = WeakSet()


def timeout_seconds() -> float:
    return float(os.environ.get("ACTION_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))


def apology_text(action_name: str = "") -> str:
    from bot.clinic import load_clinic

    try:
        phone = load_clinic().phone
    except Exception:  # noqa: BLE001 - a broken settings file must not hide this
        phone = "the number on our website"
    text = SUBMIT_APOLOGY if action_name.startswith("action_submit_") else APOLOGY
    return text.format(phone=phone)


def fallback_events(action_name: str, tracker, output_channel) -> list:
    """One apology per incoming message (Rasa sends the BotUttered); an
    unchecked form answer is dropped so the question is asked again."""
    from rasa.shared.core.events import BotUttered, SlotSet

    events = []
    if output_channel not in _apologised:
        _apologised.add(output_channel)
        events.append(BotUttered(text=apology_text(action_name)))
    requested = tracker.get_slot("requested_slot")
    if action_name.startswith("validate_") and requested:
        events.append(SlotSet(requested, None))
    return events


async def _run_with_deadline(self, output_channel, nlg, tracker, domain):
    from rasa.core.actions.action import ActionExecutionRejection

    try:
        return await asyncio.wait_for(
            _original_run(self, output_channel, nlg, tracker, domain),
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


def apply() -> None:
    global _original_run
    from rasa.core.actions.action import RemoteAction

    if _original_run is None:
        _original_run = RemoteAction.run
        RemoteAction.run = _run_with_deadline
