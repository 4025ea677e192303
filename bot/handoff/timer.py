"""The timer that gives a chat nobody took back to the assistant with a
callback offer, once across all instances of the website (the claim is one
``UPDATE ... WHERE status = 'waiting'``, bot/handoff/queue.py)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from aiohttp import web

from bot.handoff.queue import HandoffQueue
from bot.handoff.rasa_api import RasaAPI, RasaAPIError

logger = logging.getLogger(__name__)
TIMER = web.AppKey("handoff_timer", asyncio.Task)


async def offer_callbacks(queue: HandoffQueue, rasa: RasaAPI, wait: timedelta) -> int:
    """Patients who waited longer than ``wait`` get the assistant back with a
    callback offer; one whose chat could not be reached is tried again."""
    offered = 0
    for h in await asyncio.to_thread(queue.claim_overdue, wait):
        try:
            await rasa.resume(h.conversation_id)
            await rasa.utter(h.conversation_id, "utter_handoff_missed", listen=True)
        except RasaAPIError:
            logger.exception("could not offer chat %s a callback; retrying", h.id)
            await asyncio.to_thread(queue.unclaim, h.id)
            continue
        offered += 1
    return offered


def start_timer(
    app: web.Application,
    queue: HandoffQueue,
    rasa: RasaAPI,
    wait: timedelta,
    every: float = 5.0,
) -> None:
    """Run ``offer_callbacks`` every ``every`` seconds while the app runs."""

    async def loop() -> None:
        while True:
            try:
                await offer_callbacks(queue, rasa, wait)
            except Exception:  # noqa: BLE001 - the timer must keep running
                logger.exception("handoff timer failed; trying again")
            await asyncio.sleep(every)

    async def start(app: web.Application) -> None:
        app[TIMER] = asyncio.create_task(loop())

    async def stop(app: web.Application) -> None:
        app[TIMER].cancel()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
