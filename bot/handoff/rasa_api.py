"""What the reception console asks of Rasa's HTTP API during a live handoff.

Everything the patient sees goes through Rasa's own output channels, the
one the conversation was opened on (its namespace, bot/rasa/live_handoff.py), so
a staff reply reaches the widget, WhatsApp, Messenger or Telegram the way
the assistant's answers do, and is kept in the conversation's tracker. The
texts the console sends on its own (taken, handed back, missed) are the
domain's responses, run with ``/execute``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from bot.conversation_ids import split_id

TIMEOUT = aiohttp.ClientTimeout(total=10)


def conversation_path(conversation_id: str) -> str:
    """The id as it goes into an API path: every character but unreserved
    ones percent-encoded (spaces, ``/``, ``%``, ``?``, ``#``, unicode), and
    decoded once on Rasa's side (bot/rasa/api_ids.py)."""
    return quote(conversation_id, safe="")


def output_to(conversation_id: str) -> dict[str, str]:
    """Output on the conversation's own channel; none for an id no channel
    issued (Rasa then only collects what would be said)."""
    channel = split_id(conversation_id)[0]
    return {"output_channel": channel} if channel else {}


class RasaAPIError(RuntimeError):
    """Rasa did not take the request; said to the staff member."""


class RasaAPI:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def _conversation(self, conversation_id: str, path: str) -> str:
        return f"{self.url}/conversations/{conversation_path(conversation_id)}/{path}"

    async def _call(
        self,
        method: str,
        url: str,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                async with session.request(
                    method, url, json=json, params=params, headers=headers
                ) as response:
                    if response.status >= 400:
                        raise RasaAPIError(
                            f"Rasa answered {response.status}: "
                            f"{(await response.text())[:200]}"
                        )
                    return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RasaAPIError(f"Rasa could not be reached: {error}") from error

    async def events(self, conversation_id: str) -> list[dict]:
        tracker = await self._call(
            "GET", self._conversation(conversation_id, "tracker")
        )
        return tracker.get("events") or []

    async def append(
        self, conversation_id: str, events: list[dict], send: bool = False
    ) -> None:
        """Add events; with ``send``, bot messages among them go out to the
        patient's channel."""
        params = (
            {**output_to(conversation_id), "execute_side_effects": "true"}
            if send
            else None
        )
        await self._call(
            "POST",
            self._conversation(conversation_id, "tracker/events"),
            json=events,
            params=params,
        )

    async def say(self, conversation_id: str, text: str, staff: str) -> None:
        """A staff member's words, into the patient's chat."""
        await self.append(
            conversation_id,
            [{"event": "bot", "text": text, "metadata": {"staff": staff}}],
            send=True,
        )

    async def utter(
        self,
        conversation_id: str,
        response: str,
        slots: dict[str, Any] | None = None,
        listen: bool = False,
    ) -> None:
        """One of the domain's responses, filled from ``slots``; with
        ``listen``, the patient's answer to it is the next turn (it offers
        buttons)."""
        if slots:
            await self.append(
                conversation_id,
                [{"event": "slot", "name": k, "value": v} for k, v in slots.items()],
            )
        await self._call(
            "POST",
            self._conversation(conversation_id, "execute"),
            json={"name": response},
            params=output_to(conversation_id),
        )
        if listen:
            await self.append(
                conversation_id, [{"event": "action", "name": "action_listen"}]
            )

    async def resume(self, conversation_id: str) -> None:
        """The assistant answers again. The pause happened inside an action,
        so the tracker never went back to listening; ``action_listen`` makes
        the next message a fresh turn."""
        await self.append(
            conversation_id,
            [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
        )
