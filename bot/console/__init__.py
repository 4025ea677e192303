"""Reception's console: staff accounts and, on top of them, the web pages
(live handoff, bookings inbox, what patients ask, privacy requests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp.web import Response

if TYPE_CHECKING:
    from bot.booking.store import BookingStore
    from bot.console.accounts import Accounts
    from bot.conversations import Conversations
    from bot.handoff.queue import HandoffQueue
    from bot.handoff.rasa_api import RasaAPI


async def blocking(function: Callable[..., Any], *args: Any) -> Any:
    """A database call, off the event loop."""
    return await asyncio.to_thread(function, *args)


@dataclass(frozen=True)
class Console:
    """What every page of the console is built from: the stores, Rasa's API,
    the clinic's time zone, and the login guard and page frame of
    bot/console/web.py."""

    accounts: Accounts
    store: BookingStore
    queue: HandoffQueue
    rasa: RasaAPI
    conversations: Conversations
    zone: ZoneInfo
    # ``logged_in(handler, form=False)``: the route needs a session (and,
    # for a form, its CSRF token).
    logged_in: Callable[..., Any]
    page: Callable[..., Response]
    nav: Callable[..., str]
    blocking = staticmethod(blocking)


def download(body: str, content_type: str, filename: str) -> Response:
    """A file for staff to save (CSV, JSON), never cached: it holds personal
    details."""
    return Response(
        text=body,
        content_type=content_type,
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
