"""Shared fixtures: trackers for action tests, the built spaCy pipeline, the
servers for end-to-end tests; and each test's tier marker, from its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import PROJECT_ROOT

TESTS = Path(__file__).parent
TIERS = {"unit": ("unit",), "e2e": ("e2e",), "browser": ("browser", "e2e")}


def pytest_collection_modifyitems(items) -> None:
    """tests/unit -> unit, tests/e2e -> e2e, tests/browser -> browser and e2e."""
    for item in items:
        try:
            folder = Path(item.fspath).relative_to(TESTS).parts[0]
        except ValueError:
            continue
        for tier in TIERS.get(folder, ()):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def configured_services() -> None:
    """The action server's services made from the environment as each test
    starts, as the action server's entry point makes them (rasa_sdk_plugins)."""
    from actions import services
    from bot.settings import load_settings

    services.configure(load_settings())


@pytest.fixture(autouse=True)
def fresh_admission(monkeypatch) -> None:
    """Each test starts with the message slots a fresh process has, so no
    test depends on another having called ``admission.configure`` before it
    (as one did, and hung when the files ran on separate workers)."""
    from bot.rasa import admission
    from bot.settings import load_settings

    limit = load_settings().max_concurrent_messages
    monkeypatch.setattr(admission, "_slots", admission.Slots(limit))


def user_event(text: str, intent: str, entities: list[dict] | None = None) -> dict:
    return {
        "event": "user",
        "text": text,
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "entities": entities or [],
        },
    }


def make_tracker(
    text: str = "hello",
    intent: str = "greet",
    *,
    entities: list[dict] | None = None,
    ranking: list[tuple[str, float]] | None = None,
    slots: dict[str, Any] | None = None,
    history: list[dict] | None = None,
    sender_id: str = "test-user",
) -> Tracker:
    """A Tracker whose latest message is ``text`` parsed as ``intent``."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking or []],
    }
    events = [*(history or []), {**user_event(text, intent, entities)}]
    events[-1]["parse_data"] = latest
    return Tracker(
        sender_id=sender_id,
        slots=slots or {},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture(scope="session")
def domain() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf8"))


@pytest.fixture(scope="session")
def spacy_model_dir() -> Path:
    path = PROJECT_ROOT / "build" / "spacy_en_physio"
    if not (path / "meta.json").exists():
        pytest.fail("spaCy pipeline not built; run `make setup`")
    return path


@pytest.fixture(autouse=True)
def private_booking_spool(tmp_path, monkeypatch):
    """No test may queue requests into the project's own var/ spool."""
    from actions import services
    from bot.booking.spool import Spool

    spool = Spool(tmp_path / "booking-spool.db")
    monkeypatch.setattr(services, "booking_spool", lambda: spool)
    monkeypatch.setenv("BOOKING_SPOOL", str(spool.path))
    return spool


@pytest.fixture(autouse=True)
def private_handoff_queue(tmp_path, monkeypatch):
    """No test may queue handoffs into the project's own var/ database."""
    from actions import services
    from bot.handoff.queue import HandoffQueue

    queue = HandoffQueue(f"sqlite:///{tmp_path / 'handoffs.db'}")
    monkeypatch.setattr(services, "handoff_queue", lambda: queue)
    return queue


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request, tmp_path):
    """An empty database on SQLite, then on the test PostgreSQL server."""
    import os
    import uuid

    from bot.ops.localhost import create_database, drop_database

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'clinic.db'}"
        return
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.skip("TEST_POSTGRES_URL not set (make test starts PostgreSQL)")
    name = f"test_{uuid.uuid4().hex[:10]}"
    yield create_database(base, name)
    drop_database(base, name)


@pytest.fixture
def node_modules(tmp_path):
    """A node_modules with a stand-in of the socket.io client, for the
    website's app in-process."""
    from bot.web.server import SOCKET_IO_CLIENT

    bundle = tmp_path / "nm" / SOCKET_IO_CLIENT
    bundle.parent.mkdir(parents=True)
    bundle.write_text("/* socket.io client */")
    return tmp_path / "nm"


@pytest.fixture(scope="module")
def inbox():
    """A real SMTP server (aiosmtpd) on a free port for the clinic's emails."""
    from aiosmtpd.controller import Controller

    from tests.servers import Inbox, free_port

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'clinic.db'}"


@pytest.fixture(scope="module")
def servers(request, tmp_path_factory, inbox, database):
    """The real servers for a booking-capable module: its own bookings
    database, mail to ``inbox``, and a clinic that is always open."""
    from tests.servers import MODEL, Servers

    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    env = {
        "DATABASE_URL": database,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(inbox.port),
        "CLINIC_SETTINGS": str(PROJECT_ROOT / "tests" / "fixtures" / "always_open.yml"),
    }
    servers = Servers(root / "conversations.db", root / "servers.log", env)
    servers.start()
    yield servers
    servers.stop()


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The action server's booking store on a temp SQLite file; notifications
    are collected in ``store.sent`` instead of being mailed."""
    from actions import services
    from bot.booking.store import BookingStore
    from bot.handoff.queue import HandoffQueue

    store = BookingStore(f"sqlite:///{tmp_path / 'clinic.db'}", ("email",))
    queue = HandoffQueue(store.url)
    sent = []
    monkeypatch.setattr(services, "booking_store", lambda: store)
    monkeypatch.setattr(services, "handoff_queue", lambda: queue)
    store.handoffs = queue
    monkeypatch.setattr(
        services,
        "notification_senders",
        lambda: {"email": sent.append, "staff_email": sent.append},
    )
    store.sent = sent
    return store


@pytest.fixture(scope="module")
def providers():
    """Stand-ins of Twilio, Meta's Graph API and Telegram for one module."""
    from tests.chat import provider_standins

    with provider_standins() as standins:
        yield standins


@pytest.fixture(scope="module")
def channel_servers(request, providers, tmp_path_factory, inbox, database):
    """The real servers with every messaging channel on (tests.chat)."""
    from tests.chat import all_channels_env
    from tests.servers import MODEL, Servers

    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    env = all_channels_env(providers, inbox, database)
    servers = Servers(root / "conversations.db", root / "servers.log", env)
    servers.start()
    yield servers
    servers.stop()


@pytest.fixture
def quick_hashes(monkeypatch):
    """argon2 with its cost turned down: these tests are about accounts, not
    the hash's strength (test_console_accounts checks the real parameters)."""
    from functools import partial

    from argon2 import PasswordHasher

    monkeypatch.setattr(
        "bot.console.accounts.PasswordHasher",
        partial(PasswordHasher, time_cost=1, memory_cost=1024, parallelism=1),
    )
