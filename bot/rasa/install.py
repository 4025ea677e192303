"""Rasa as this project runs it: every patch installed (bot/rasa/extensions.py)
and configured from the settings read once by the entry point."""

from __future__ import annotations

from bot.channels import floods, replays
from bot.clinic.facts import load_clinic
from bot.rasa import admission, extensions, resilience
from bot.settings import Settings, secret


def install(settings: Settings) -> None:
    """The deadline for custom actions, the clinic's phone for apologies,
    the number of messages in work at once, the channels' limits and replay
    guard, then the patches (once)."""
    resilience.configure(settings.action_timeout_seconds, _phone(settings))
    admission.configure(settings.max_concurrent_messages)
    floods.configure(
        settings.flood_per_conversation,
        settings.flood_per_address,
        secret("WIDGET_SECRET"),
    )
    replays.configure(settings.database_url)
    extensions.apply()


def _phone(settings: Settings) -> str | None:
    """The clinic's phone for apologies; a broken clinic file must not stop
    Rasa (the apology then points at the website)."""
    try:
        return load_clinic(settings.clinic_settings).phone
    except Exception:  # noqa: BLE001 - logged by whoever reads the file next
        return None
