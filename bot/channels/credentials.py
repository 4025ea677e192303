"""Build Rasa's ``credentials.yml`` from the settings at start-up.

A channel appears only when its secrets are set, so an unconfigured
messaging app has no webhook route at all.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.settings import Settings


def build_credentials(settings: Settings) -> dict:
    credentials: dict = {
        "rest": None,
        "socketio": {
            "user_message_evt": "user_uttered",
            "bot_message_evt": "bot_uttered",
            "session_persistence": True,
        },
    }
    return credentials


def write_credentials(settings: Settings, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(build_credentials(settings), sort_keys=False))
    path.chmod(0o600)
    return path
