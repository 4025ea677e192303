"""Messages are handled a few at a time, in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from bot.rasa import admission, extensions
from bot.rasa.admission import Slots

# What the admission patch calls next (bot/rasa/extensions.py keeps it).
ORIGINALS = extensions._originals
RUN = "bot.rasa.admission:run_action_without_slot"


async def test_waiters_are_served_in_arrival_order_returning_first():
    slots = Slots(1)
    await slots.acquire()
    order = []

    async def take(name, returning=False):
        await slots.acquire(returning=returning)
        order.append(name)
        slots.release()

    tasks = [
        asyncio.create_task(take("new 1")),
        asyncio.create_task(take("new 2")),
        asyncio.create_task(take("back 1", returning=True)),
        asyncio.create_task(take("back 2", returning=True)),
    ]
    await asyncio.sleep(0)
    slots.release()
    await asyncio.gather(*tasks)
    assert order == ["back 1", "back 2", "new 1", "new 2"]
    assert slots.free == 1


async def test_a_cancelled_waiter_does_not_lose_a_place():
    slots = Slots(1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    slots.release()
    assert slots.free == 1


async def test_a_place_handed_to_a_cancelled_waiter_comes_back():
    slots = Slots(1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.free == 1


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError):
        Slots(0)


@pytest.fixture
def one_at_a_time(monkeypatch):
    """The lock store around a fake processor and action, as Rasa's agent
    handles a message: inside ``lock_store.lock``; one message at a time."""
    from bot.rasa.locks import AdmittingInMemoryLockStore

    log = []
    store = AdmittingInMemoryLockStore()

    async def run(action, seconds):
        await asyncio.sleep(seconds)
        return []

    class Action:
        async def run(self, seconds):
            return await admission.run_action_without_slot(self, seconds)

    class Processor:
        action = Action()
        lock_store = store

        async def handle_message(self, message):
            log.append(f"start {message}")
            if message.startswith("slow"):
                await self.action.run(0.6)
            elif message.startswith("quick"):
                await self.action.run(0.05)
            elif message.startswith("broken"):
                raise RuntimeError("boom")
            log.append(f"end {message}")
            return message

    monkeypatch.setattr(admission, "_slots", Slots(1))
    monkeypatch.setitem(ORIGINALS, RUN, run)
    return Processor(), log


async def say(processor, message):
    """What rasa.core.agent.Agent.handle_message does."""
    async with processor.lock_store.lock(f"sender-{message}"):
        return await processor.handle_message(message)


async def test_messages_take_turns(one_at_a_time):
    processor, log = one_at_a_time
    results = await asyncio.gather(
        say(processor, "quick a"), say(processor, "b"), say(processor, "c")
    )
    assert results == ["quick a", "b", "c"]
    assert log == [
        "start quick a",
        "end quick a",
        "start b",
        "end b",
        "start c",
        "end c",
    ]
    assert admission._slots.free == 1


async def test_a_slow_action_lets_other_messages_through(one_at_a_time):
    processor, log = one_at_a_time
    first = asyncio.create_task(say(processor, "slow a"))
    await asyncio.sleep(0.01)
    await say(processor, "b")
    assert log == ["start slow a", "start b", "end b"]
    await first
    assert log[-1] == "end slow a"
    assert admission._slots.free == 1


async def test_a_failing_message_gives_its_place_back(one_at_a_time):
    processor, _ = one_at_a_time
    with pytest.raises(RuntimeError):
        await say(processor, "broken")
    assert admission._slots.free == 1


async def test_the_redis_lock_store_admits_too(monkeypatch):
    """A message waiting for its conversation's lock holds no place; one
    holding the lock waits for a place like any other."""
    import os

    from bot.rasa.locks import AtomicRedisLockStore

    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL not set (make test starts Redis)")
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    store = AtomicRedisLockStore(host=parts.hostname, port=parts.port)
    monkeypatch.setattr(admission, "_slots", Slots(1))
    inside = []

    async def handle(name, conversation):
        async with store.lock(conversation):
            inside.append(f"in {name}")
            await asyncio.sleep(0.1)
            inside.append(f"out {name}")

    await asyncio.gather(handle("a", "c1"), handle("b", "c2"), handle("c", "c1"))
    # One at a time, whatever the conversation.
    assert [e.split()[0] for e in inside] == ["in", "out"] * 3
    assert admission._slots.free == 1


@pytest.mark.parametrize("raw", ["0", "-2", "three", "1.5"])
def test_a_bad_limit_setting_stops_with_a_message(monkeypatch, raw):
    from bot.settings import load_settings

    monkeypatch.setenv("MAX_CONCURRENT_MESSAGES", raw)
    with pytest.raises(SystemExit, match="MAX_CONCURRENT_MESSAGES"):
        load_settings()


def test_the_limit_setting(monkeypatch):
    from bot.settings import load_settings

    monkeypatch.delenv("MAX_CONCURRENT_MESSAGES", raising=False)
    assert load_settings().max_concurrent_messages == 3
    monkeypatch.setenv("MAX_CONCURRENT_MESSAGES", "8")
    assert load_settings().max_concurrent_messages == 8
