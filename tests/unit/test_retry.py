"""The action server's background retry of queued notifications."""

from __future__ import annotations

import asyncio

from rasa_sdk.plugin import plugin_manager

import rasa_sdk_plugins
from bot.notify.retry import retry_forever


async def test_keeps_retrying_after_a_failed_round():
    rounds = []

    def deliver():
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ConnectionError("database down")
        return {"sent": 1, "failed": 0}

    task = asyncio.create_task(retry_forever(deliver, 0.01))
    while len(rounds) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    assert len(rounds) >= 3


def test_the_action_server_plugin_starts_the_loop():
    """rasa_sdk imports ``rasa_sdk_plugins`` and calls its hook with the app;
    it also puts the shared-secret check in front of every request."""
    from bot.rasa.action_auth import require_token

    registered = []

    class App:
        def register_listener(self, listener, event):
            registered.append((listener, event))

        def register_middleware(self, middleware, kind):
            registered.append((middleware, kind))

    plugin_manager().hook.attach_sanic_app_extensions(app=App())
    assert (require_token, "request") in registered
    assert (rasa_sdk_plugins.start_outbox_retry, "after_server_start") in registered
    assert (rasa_sdk_plugins.stop_outbox_retry, "before_server_stop") in registered
