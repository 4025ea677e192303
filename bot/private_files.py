"""Files written at start-up that may hold secrets."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def write_private_yaml(path: Path, data: dict) -> Path:
    """Owner-only from the moment it exists, so no secret is ever world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf8") as file:
        yaml.safe_dump(data, file, sort_keys=False)
    path.chmod(0o600)
    return path
