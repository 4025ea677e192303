"""The bookings database's lowest layer: how an engine is made, and the time
helpers every table of it uses. Imports nothing of the project, so the
schema (bot/migrations) and every store can build on it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine


def make_engine(url: str) -> Engine:
    """An engine that checks a pooled connection before use; a SQLite file's
    folder is made first."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, future=True, pool_pre_ping=True)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def to_utc(value: datetime | None) -> datetime | None:
    """A time to store: in UTC, and refused without a time zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("times must carry a time zone")
    return value.astimezone(timezone.utc)
