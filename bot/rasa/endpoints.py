"""Build Rasa's ``endpoints.yml`` from the settings at start-up.

One process: conversations in SQLite and an in-memory lock store. With
``DATABASE_URL`` on PostgreSQL the conversations go there too (unless
``TRACKER_DATABASE_URL`` names another database), and with
``REDIS_URL`` the lock store is Redis (``bot.rasa.locks``), which Rasa needs
before more than one process may serve the same conversations.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from bot.conversations import conversations_url
from bot.private_files import write_private_yaml
from bot.settings import Settings

TRACKER_STORE = "bot.rasa.tracker_store.SQLTrackerStore"


def tracker_store(settings: Settings) -> dict:
    """Rasa's tracker store on the conversations' database
    (``bot.conversations.conversations_url``)."""
    url = make_url(conversations_url(settings))
    if url.get_backend_name() != "postgresql":
        return {"type": TRACKER_STORE, "dialect": "sqlite", "db": url.database}
    config = {
        "type": TRACKER_STORE,
        "dialect": "postgresql",
        "url": url.host or "localhost",
        "port": url.port or 5432,
        "db": url.database,
        "username": url.username,
        "password": url.password,
        "login_db": url.database,
    }
    return {k: v for k, v in config.items() if v is not None}


def lock_store(settings: Settings) -> dict:
    if not settings.redis_url:
        return {"type": "bot.rasa.locks.AdmittingInMemoryLockStore"}
    url = urlsplit(settings.redis_url)
    config = {
        "type": "bot.rasa.locks.AtomicRedisLockStore",
        "url": url.hostname or "localhost",
        "port": url.port or 6379,
        "db": int(url.path.strip("/") or 0),
        "password": url.password,
        "key_prefix": "dn",
    }
    return {k: v for k, v in config.items() if v is not None}


def action_endpoint(settings: Settings) -> dict:
    """The action server's URL and the secret it requires on every call.
    Rasa's own option ``enable_selective_domain`` sends the domain only to
    the form validation actions (validate_*), the only ones that read it."""
    endpoint = {"url": settings.action_endpoint_url, "enable_selective_domain": True}
    if settings.action_token:
        endpoint["headers"] = {"Authorization": f"Bearer {settings.action_token}"}
    return endpoint


def build_endpoints(settings: Settings) -> dict:
    return {
        "action_endpoint": action_endpoint(settings),
        "tracker_store": tracker_store(settings),
        "lock_store": lock_store(settings),
    }


def write_endpoints(settings: Settings, path: Path) -> Path:
    return write_private_yaml(path, build_endpoints(settings))
