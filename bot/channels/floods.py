"""Bounded queues per conversation and per client address.

Rasa handles a conversation's messages one at a time (its lock store), so a
sender who fires hundreds at once builds a queue that only grows: each waits
for all before it, and after the lock's lifetime (60 s) the rest fail with a
``LockError``, which Rasa's REST channel answers with an empty 200. Here a
message is let in only while its conversation has fewer than
``FLOOD_PER_CONVERSATION`` messages in work in this process, and its client
address fewer than ``FLOOD_PER_ADDRESS`` (REST and the widget; the
messaging apps' webhooks all come from the provider's servers, so there the
conversation limit applies alone). Beyond that: 429 with ``Retry-After`` on
REST and webhooks (the providers deliver again later) and a polite "one
moment" on the widget.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bot.settings import FLOOD_PER_ADDRESS, FLOOD_PER_CONVERSATION

BUSY_REPLY = (
    "One moment please: I'm still answering your earlier messages. "
    "Send this one again once you have my reply."
)
LOCK_REPLY = "Sorry, I couldn't get to that message in time. Please send it again."
RETRY_AFTER_SECONDS = 5
# An entry a request never gave back (its connection was cut mid-way)
# stops counting after this long: longer than Rasa's 60 s lock lifetime.
STALE_SECONDS = 90.0


@dataclass
class Floods:
    per_conversation: int
    per_address: int
    clock: Callable[[], float] = time.monotonic
    _in_work: dict[str, dict[int, float]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    _keys: dict[int, list[str]] = field(default_factory=dict)
    _next: int = 0

    def _count(self, key: str, now: float) -> int:
        entries = self._in_work.get(key)
        if not entries:
            return 0
        for ticket, since in list(entries.items()):
            if now - since > STALE_SECONDS:
                del entries[ticket]
                self._keys.pop(ticket, None)
        return len(entries)

    def enter(self, conversation: str, address: str | None = None) -> int | None:
        """A ticket for one message, or None when a queue is full."""
        now = self.clock()
        limits = {f"conversation:{conversation}": self.per_conversation}
        if address is not None:
            limits[f"address:{address}"] = self.per_address
        keys = list(limits)
        if any(self._count(k, now) >= limit for k, limit in limits.items()):
            return None
        self._next += 1
        for key in keys:
            self._in_work[key][self._next] = now
        self._keys[self._next] = keys
        return self._next

    def leave(self, ticket: int | None) -> None:
        if ticket is None:
            return
        for key in self._keys.pop(ticket, ()):
            entries = self._in_work.get(key, {})
            entries.pop(ticket, None)
            if not entries:
                self._in_work.pop(key, None)

    @contextmanager
    def admitted(self, conversation: str, address: str | None = None) -> Iterator[bool]:
        ticket = self.enter(conversation, address)
        try:
            yield ticket is not None
        finally:
            self.leave(ticket)


_floods = Floods(FLOOD_PER_CONVERSATION, FLOOD_PER_ADDRESS)
# Until configured, a key of this process alone (tags then differ between
# instances).
_client_key = secrets.token_bytes(32)


def configure(per_conversation: int, per_address: int, key: str | None) -> None:
    """The limits from the settings and the key of the client tags
    (``WIDGET_SECRET``, shared by every instance), set once by the entry
    point (bot/rasa/install.py)."""
    global _floods, _client_key
    _floods = Floods(per_conversation, per_address)
    if key:
        _client_key = key.encode("utf8")


def floods() -> Floods:
    """The process's queues."""
    return _floods


def client_address(request) -> str:
    """The caller's address; behind a proxy, what Sanic was told to trust."""
    return request.remote_addr or request.ip or "unknown"


def too_many():
    """429 as JSON, with when to try again."""
    from sanic import response

    return response.json(
        {"error": "too many messages at once; send again in a few seconds"},
        status=429,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


CLIENT_KEY = "_client"


def client_tag(address: str) -> str:
    """The client address as the message's metadata carries it (``_client``)
    for limits that count per address after the channel (handoff requests):
    keyed, so the stored value does not give the address back, and the same
    on every instance that shares ``WIDGET_SECRET`` (``configure``)."""
    return hmac.new(_client_key, address.encode("utf8"), hashlib.sha256).hexdigest()[
        :16
    ]


def with_client(metadata: dict | None, address: str) -> dict:
    """``metadata`` with the server's own ``_client``, whatever the client
    put there."""
    return {**(metadata or {}), CLIENT_KEY: client_tag(address)}
