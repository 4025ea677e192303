"""Lock stores: a Redis one that is safe across processes, and both taking
each message's place among those in work (bot/rasa/admission.py).

Rasa 3.6's ``RedisLockStore`` issues tickets with a read-modify-write of one
Redis key, so two instances taking a message for the same conversation at
the same moment can both believe they hold the lock; our cluster test lost
one or two of twelve concurrent messages that way. Here the lock is a single
atomic ``SET NX PX`` with a random token, released only by its owner (a
compare-and-delete script). It is a lease of ``LEASE_SECONDS`` that its
holder renews while it works, so it expires within seconds if its process
is killed. Waiters poll every few milliseconds instead of Rasa's one
second.

When Redis cannot be reached, Rasa's store fails the message and the user
gets an empty reply. Here the message is handled without the lock (logged as
an error): a conversation answered with a small risk of two instances
serving one sender at once is better than silence for every visitor. Redis
gets one second to answer, not Rasa's ten.

Both stores build on Rasa's and replace its ``lock``, so they refuse to be
built on another Rasa than the one they were written against
(``bot.rasa.version.check_version``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from rasa.core.lock_store import (
    LOCK_LIFETIME,
    InMemoryLockStore,
    LockError,
    RedisLockStore,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.rasa import admission
from bot.rasa.version import check_version

logger = logging.getLogger(__name__)

RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
# The lock is a lease its holder renews every third of it while it works on
# the message: a holder killed mid-message blocks its conversation for at
# most this long, instead of Rasa's whole lock lifetime (60 s), and a long
# action call never loses the lock.
LEASE_SECONDS = 5.0
POLL_SECONDS = 0.005
SOCKET_TIMEOUT_SECONDS = 1.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class AtomicRedisLockStore(RedisLockStore):
    """Configured in endpoints.yml as ``type: bot.rasa.locks.AtomicRedisLockStore``."""

    def __init__(self, endpoint_config=None, **kwargs) -> None:
        check_version()
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url, **endpoint_config.kwargs}
        kwargs.setdefault("socket_timeout", SOCKET_TIMEOUT_SECONDS)
        super().__init__(**kwargs)
        self._release = self.red.register_script(RELEASE)
        self._extend = self.red.register_script(EXTEND)
        self.lease_seconds = LEASE_SECONDS

    def _key(self, conversation_id: str) -> str:
        return f"{self.key_prefix}mutex:{conversation_id}"

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = POLL_SECONDS,
    ) -> AsyncGenerator[None, None]:
        key, token = self._key(conversation_id), uuid.uuid4().hex
        lease = min(self.lease_seconds, lock_lifetime)
        lease_ms = max(1, int(lease * 1000))
        deadline = time.monotonic() + lock_lifetime
        try:
            while not self.red.set(key, token, nx=True, px=lease_ms):
                if time.monotonic() > deadline:
                    raise LockError(
                        f"Could not lock conversation {conversation_id} within "
                        f"{lock_lifetime} s."
                    )
                await asyncio.sleep(min(wait_time_in_seconds, POLL_SECONDS))
        except UNREACHABLE as error:
            logger.error(
                "Redis unreachable (%s); handling a message of %s without the "
                "conversation lock",
                error,
                conversation_id,
            )
            async with admission.turn():
                yield None
            return
        renewal = asyncio.create_task(self._renew(key, token, lease_ms))
        try:
            async with admission.turn():
                yield None
        finally:
            renewal.cancel()
            try:
                self._release(keys=[key], args=[token])
            except UNREACHABLE as error:
                logger.error(
                    "Redis unreachable (%s); the lock of %s expires by itself "
                    "in %s s",
                    error,
                    conversation_id,
                    lease,
                )

    async def _renew(self, key: str, token: str, lease_ms: int) -> None:
        """Extend our lease every third of it, until cancelled or lost."""
        while True:
            await asyncio.sleep(lease_ms / 3000)
            try:
                if not self._extend(keys=[key], args=[token, lease_ms]):
                    logger.warning("lost the lock %s while holding it", key)
                    return
            except UNREACHABLE as error:
                logger.error("Redis unreachable (%s); lock %s not renewed", error, key)


class AdmittingInMemoryLockStore(InMemoryLockStore):
    """Rasa's in-memory lock store (one process, ``make run``) that also
    takes the message's place among those in work (bot/rasa/admission.py), as
    ``AtomicRedisLockStore`` does. Configured in endpoints.yml as
    ``type: bot.rasa.locks.AdmittingInMemoryLockStore``."""

    def __init__(self, endpoint_config=None, **_kwargs) -> None:
        check_version()
        super().__init__()

    @asynccontextmanager
    async def lock(self, conversation_id: str, *args, **kwargs):
        async with super().lock(conversation_id, *args, **kwargs) as ticket:
            async with admission.turn():
                yield ticket
