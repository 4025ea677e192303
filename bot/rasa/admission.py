"""At most a few messages in work per Rasa process; the rest wait in turn.

Under load asyncio interleaves every message in flight, so each takes about
as long as all of them together, and the costly ones (a booking being
stored) take longest: at 50 users p95 was 2.6x p50. Taking messages in
arrival order, a few at once, keeps throughput and shortens that tail
(docs/production.md, "Locks and admission"). A message gives its place up
while it waits for the action server for longer than a normal call takes,
so a slow action server (up to the 1.5 s deadline per call) does not hold
up the others; coming back, it goes ahead of messages that have not
started. Giving the place up on every call instead lengthened the tail
(p95 460 -> 710 ms). The place is taken inside the conversation lock, by
the lock stores (bot/rasa/locks.py, Rasa's extension point), so a message
waiting for its conversation holds none.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from bot.rasa import extensions
from bot.settings import MAX_CONCURRENT_MESSAGES

HOLD_SECONDS = 0.25
_holding: ContextVar[bool] = ContextVar("holding_a_message_slot", default=False)


class Slots:
    """A semaphore that serves returning messages before new ones, each
    group in arrival order."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the number of messages handled at once must be >= 1")
        self.free = limit
        self.new: deque[asyncio.Future] = deque()
        self.returning: deque[asyncio.Future] = deque()

    async def acquire(self, returning: bool = False) -> None:
        if self.free > 0:
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        queue = self.returning if returning else self.new
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        for queue in (self.returning, self.new):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self.free += 1


_slots = Slots(MAX_CONCURRENT_MESSAGES)


@asynccontextmanager
async def turn() -> AsyncIterator[None]:
    """A place among the messages in work, held until the message is done
    (bot.rasa.locks takes it inside the conversation lock, so a message waiting
    for its conversation holds none)."""
    await _slots.acquire()
    _holding.set(True)
    try:
        yield
    finally:
        if _holding.get():
            _holding.set(False)
            _slots.release()


async def run_action_without_slot(self, *args, **kwargs):
    """A custom action that is still running after ``HOLD_SECONDS`` lets other
    messages work meanwhile; a normal, quick one keeps its place."""
    run = extensions.original("bot.rasa.admission:run_action_without_slot")
    if not _holding.get():
        return await run(self, *args, **kwargs)
    call = asyncio.ensure_future(run(self, *args, **kwargs))
    try:
        await asyncio.wait({call}, timeout=HOLD_SECONDS)
    except asyncio.CancelledError:
        call.cancel()
        raise
    if call.done():
        return call.result()
    _holding.set(False)
    _slots.release()
    try:
        return await call
    finally:
        await _slots.acquire(returning=True)
        _holding.set(True)


def configure(limit: int) -> None:
    """At most ``limit`` messages in work at once (``MAX_CONCURRENT_MESSAGES``);
    the patches themselves are installed by bot/rasa/extensions.py."""
    global _slots
    _slots = Slots(limit)
