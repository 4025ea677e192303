"""endpoints.yml and credentials.yml are built from the environment at start-up."""

from __future__ import annotations

import stat

import yaml

from bot.channels.credentials import write_credentials
from bot.rasa.endpoints import build_endpoints, write_endpoints
from bot.settings import load_settings


def test_one_process_defaults_to_sqlite_and_in_memory_locks(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "conversations.db"))
    endpoints = build_endpoints(load_settings())
    assert endpoints["tracker_store"] == {
        "type": "bot.rasa.tracker_store.SQLTrackerStore",
        "dialect": "sqlite",
        "db": str(tmp_path / "conversations.db"),
    }
    assert endpoints["lock_store"] == {
        "type": "bot.rasa.locks.AdmittingInMemoryLockStore"
    }


def test_postgresql_and_redis_from_the_environment(monkeypatch):
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql://rasa:s3cret@db.internal:6543/clinic"
    )
    monkeypatch.setenv("REDIS_URL", "redis://:pw@cache.internal:6380/2")
    endpoints = build_endpoints(load_settings())
    assert endpoints["tracker_store"] == {
        "type": "bot.rasa.tracker_store.SQLTrackerStore",
        "dialect": "postgresql",
        "url": "db.internal",
        "port": 6543,
        "db": "clinic",
        "username": "rasa",
        "password": "s3cret",
        "login_db": "clinic",
    }
    assert endpoints["lock_store"] == {
        "type": "bot.rasa.locks.AtomicRedisLockStore",
        "url": "cache.internal",
        "port": 6380,
        "db": 2,
        "password": "pw",
        "key_prefix": "dn",
    }


def test_files_with_secrets_are_owner_only(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://rasa:s3cret@localhost/clinic")
    settings = load_settings()
    for path in (
        write_endpoints(settings, tmp_path / "endpoints.yml"),
        write_credentials(settings, tmp_path / "credentials.yml"),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert yaml.safe_load(path.read_text())


def test_conversations_can_live_apart_from_bookings(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://rasa@db.internal/clinic")
    monkeypatch.setenv("TRACKER_DATABASE_URL", f"sqlite:///{tmp_path / 't.db'}")
    assert build_endpoints(load_settings())["tracker_store"] == {
        "type": "bot.rasa.tracker_store.SQLTrackerStore",
        "dialect": "sqlite",
        "db": str(tmp_path / "t.db"),
    }
