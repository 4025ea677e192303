"""The Redis lock store: one holder at a time, across separate stores."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from rasa.core.lock_store import LockError
from rasa.utils.endpoints import EndpointConfig

from bot.rasa.endpoints import lock_store
from bot.rasa.locks import RELEASE, AtomicRedisLockStore
from bot.settings import load_settings


@pytest.fixture
def stores(monkeypatch):
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.fail("TEST_REDIS_URL not set: .ci/run starts Redis")
    monkeypatch.setenv("REDIS_URL", url)
    config = lock_store(load_settings())
    config.pop("type")
    host = config.pop("url")
    return [AtomicRedisLockStore(EndpointConfig(url=host, **config)) for _ in range(3)]


async def test_two_instances_never_hold_one_conversation_at_once(stores):
    inside, overlaps, order = 0, 0, []

    async def handle(store, n):
        nonlocal inside, overlaps
        async with store.lock("lock-test-conversation"):
            inside += 1
            overlaps += inside > 1
            await asyncio.sleep(0.01)
            order.append(n)
            inside -= 1

    await asyncio.gather(*(handle(stores[i % 3], i) for i in range(30)))
    assert overlaps == 0 and sorted(order) == list(range(30))


async def test_other_conversations_are_not_blocked(stores):
    """While one instance holds conversation A, another takes conversation B
    at once, and A itself stays locked meanwhile."""
    a, b = f"conversation-a-{uuid.uuid4().hex}", f"conversation-b-{uuid.uuid4().hex}"
    inside_b = []
    async with stores[0].lock(a, lock_lifetime=5):
        started = loop_time()
        async with stores[1].lock(b, lock_lifetime=1):
            inside_b.append(loop_time() - started)
            with pytest.raises(LockError):
                async with stores[2].lock(a, lock_lifetime=0.2):
                    pass
    assert len(inside_b) == 1 and inside_b[0] < 0.5, inside_b


async def test_gives_up_after_the_lifetime(stores):
    async with stores[0].lock("held", lock_lifetime=5):
        with pytest.raises(LockError):
            async with stores[1].lock("held", lock_lifetime=0.2):
                pass


async def test_an_expired_lock_is_not_released_by_its_old_owner(stores):
    """A holder that stopped renewing (frozen) loses the lock; when it wakes
    up, its release must not free the lock of the one who took over."""

    async def frozen(*_):
        return None

    stores[0]._renew = frozen
    old = stores[0].lock("expiring", lock_lifetime=0.05)
    await old.__aenter__()
    await asyncio.sleep(0.1)
    async with stores[1].lock("expiring", lock_lifetime=5):
        await old.__aexit__(None, None, None)
        with pytest.raises(LockError):
            async with stores[2].lock("expiring", lock_lifetime=0.2):
                pass


async def test_a_killed_holder_blocks_its_conversation_only_for_the_lease(stores):
    """A process killed mid-message leaves its key behind, unrenewed."""
    store = stores[1]
    store.lease_seconds = 0.5
    store.red.set(store._key("orphaned"), "token-of-a-dead-process", px=500)
    started = loop_time()
    async with store.lock("orphaned", lock_lifetime=10):
        waited = loop_time() - started
    assert 0.3 < waited < 2.0


async def test_a_holder_keeps_the_lock_past_its_lease_while_it_works(stores):
    for store in stores:
        store.lease_seconds = 0.3
    async with stores[0].lock("long-message", lock_lifetime=10):
        with pytest.raises(LockError):
            async with stores[1].lock("long-message", lock_lifetime=1.0):
                pass
    async with stores[1].lock("long-message", lock_lifetime=1.0):
        pass


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_without_redis_messages_are_still_handled(caplog):
    store = AtomicRedisLockStore(host="127.0.0.1", port=unused_port())
    handled = []
    async with store.lock("ana"):
        handled.append("ana")
    assert handled == ["ana"]
    assert "without the conversation lock" in caplog.text


async def test_losing_redis_while_holding_a_lock_is_not_an_error(stores, caplog):
    import redis

    store = stores[0]
    async with store.lock("ben"):
        store.red = redis.StrictRedis(port=unused_port(), socket_timeout=1)
        store._release = store.red.register_script(RELEASE)
    assert "expires by itself" in caplog.text


def test_redis_gets_one_second_to_answer():
    store = AtomicRedisLockStore(host="127.0.0.1", port=unused_port())
    assert store.red.connection_pool.connection_kwargs["socket_timeout"] == 1.0
