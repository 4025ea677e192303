"""Retry queued notifications in the background, so a booking made while the
mail server was down still reaches reception once it is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


async def retry_forever(
    deliver: Callable[[], dict[str, int]], interval: float, name: str = "outbox retry"
) -> None:
    """Call ``deliver`` (blocking, run in a thread) every ``interval`` seconds.

    A failing round is logged and the loop goes on; only cancellation ends it.
    """
    while True:
        try:
            counts = await asyncio.to_thread(deliver)
            if any(counts.values()):
                logger.info("%s: %s", name, counts)
        except Exception:  # noqa: BLE001 - e.g. the database is down; try later
            logger.exception("%s round failed", name)
        await asyncio.sleep(interval)
