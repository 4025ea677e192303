"""Hand a conversation to a person at the clinic, and give it back to the bot.

The bot pauses a conversation with Rasa's ``ConversationPaused`` event, so it
stays silent until staff resume it through Rasa's HTTP API.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import requests

from bot.clinic.facts import DAYS, Clinic
from bot.handoff.rasa_api import conversation_path


def is_open(clinic: Clinic, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(clinic.timezone))
    hours = clinic.opening_hours.get(DAYS[local.weekday()])
    return bool(hours) and hours[0] <= local.time() < hours[1]


def transcript(events: list[dict], limit: int = 40) -> str:
    """The last user and bot messages, one per line, for staff."""
    lines = []
    for event in events:
        if event.get("event") == "user" and event.get("text"):
            lines.append(f"Patient: {event['text']}")
        elif event.get("event") == "bot" and event.get("text"):
            lines.append(f"Assistant: {event['text']}")
    return "\n".join(lines[-limit:]) or "(no messages)"


def resume(rasa_url: str, token: str, conversation_id: str) -> None:
    """Un-pause a conversation so the assistant answers again.

    The pause happened inside an action, so the tracker never went back to
    listening; appending ``action_listen`` lets the next message be handled
    as a fresh turn.
    """
    response = requests.post(
        f"{rasa_url.rstrip('/')}/conversations/"
        f"{conversation_path(conversation_id)}/tracker/events",
        headers={"Authorization": f"Bearer {token}"},
        json=[{"event": "resume"}, {"event": "action", "name": "action_listen"}],
        timeout=10,
    )
    response.raise_for_status()
