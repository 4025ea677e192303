"""Build Rasa's ``credentials.yml`` from the settings at start-up.

A channel appears only when its secrets are set, so an unconfigured
messaging app has no webhook route at all.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from bot.private_files import write_private_yaml
from bot.settings import Settings


def build_credentials(settings: Settings) -> dict:
    credentials: dict = {}
    if settings.rest_access != "off":
        credentials["bot.channels.rest.ClinicRestInput"] = {
            "require_token": settings.rest_access == "token"
        }
    credentials |= {
        "bot.channels.socketio.ClinicSocketIOInput": {
            "user_message_evt": "user_uttered",
            "bot_message_evt": "bot_uttered",
            "session_persistence": True,
            "cors_allowed_origins": list(settings.web.allowed_origins),
            # Several instances: a reply sent through one reaches a widget
            # connected to another (a staff member's, from the console).
            **({"redis_url": settings.redis_url} if settings.redis_url else {}),
        },
    }
    credentials.update(_messaging_apps(settings))
    return credentials


def _messaging_apps(settings: Settings) -> dict:
    """WhatsApp, Messenger and Telegram, each only when configured, keyed by
    our channel classes so Rasa passes them these values."""
    channels = settings.channels
    apps: dict = {}
    if channels.whatsapp:
        apps["bot.channels.whatsapp.WhatsAppInput"] = asdict(channels.whatsapp)
    if channels.messenger:
        apps["bot.channels.messenger.MessengerInput"] = asdict(channels.messenger)
    if channels.telegram:
        apps["bot.channels.telegram.TelegramWebhookInput"] = asdict(channels.telegram)
    return apps


def write_credentials(settings: Settings, path: Path) -> Path:
    return write_private_yaml(path, build_credentials(settings))
