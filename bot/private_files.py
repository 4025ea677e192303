"""Files written at start-up that may hold secrets."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import yaml


def write_private_yaml(path: Path, data: dict) -> Path:
    """Owner-only from the moment it exists, so no secret is ever world-readable."""
    return write_private_text(path, yaml.safe_dump(data, sort_keys=False))


def write_private_text(path: Path, text: str) -> Path:
    """Owner-only from the moment it exists, so no secret is ever world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf8") as file:
        file.write(text)
    path.chmod(0o600)
    return path


def kept_secret(path: Path) -> str:
    """A random secret kept in ``path`` (owner-only), made on first use, so
    it survives restarts and every process started from here shares it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf8").strip()
    with os.fdopen(fd, "w", encoding="utf8") as file:
        file.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf8").strip()
