"""rasa_sdk's plugin hook (it imports a package of exactly this name): every
call needs the shared secret, and the notification retry loop starts and
stops with the action server."""

from __future__ import annotations

import asyncio
import sys

import pluggy

hookimpl = pluggy.HookimplMarker("rasa_sdk")


def init_hooks(manager: pluggy.PluginManager) -> None:
    manager.register(sys.modules[__name__])


@hookimpl
def attach_sanic_app_extensions(app) -> None:
    """The action server's entry point: the settings are read here, once."""
    from actions import services
    from bot import private_logs
    from bot.rasa.action_auth import require_token
    from bot.settings import load_settings

    private_logs.install()
    services.configure(load_settings())
    app.register_middleware(require_token, "request")
    app.register_listener(start_outbox_retry, "after_server_start")
    app.register_listener(stop_outbox_retry, "before_server_stop")


async def start_outbox_retry(app, _loop) -> None:
    from actions import services
    from bot.notify.outbox import flush
    from bot.notify.retry import retry_forever

    def deliver() -> dict[str, int]:
        return flush(
            services.booking_store(),
            services.booking_spool(),
            services.notification_senders(),
        )

    settings = services.settings()
    app.ctx.outbox_retry = asyncio.create_task(
        retry_forever(deliver, settings.outbox_retry_seconds)
    )
    # Retention: what is past its time is deleted once a day.
    from bot.privacy.retention import DAILY_SECONDS, apply_retention

    app.ctx.retention = asyncio.create_task(
        retry_forever(lambda: apply_retention(settings), DAILY_SECONDS, "retention")
    )


async def stop_outbox_retry(app, _loop) -> None:
    for name in ("outbox_retry", "retention"):
        task = getattr(app.ctx, name, None)
        if task:
            task.cancel()
