"""Outside opening hours: handoff offers a callback request (name and phone),
stored like a booking; its email is retried until the mail server is back."""

from __future__ import annotations

import time
import uuid

import pytest
from aiosmtpd.controller import Controller

from bot import PROJECT_ROOT
from bot.booking.reference import looks_like_reference
from bot.booking.store import BookingStore
from tests.servers import MODEL, Inbox, Servers, free_port


@pytest.fixture(scope="module")
def smtp_port():
    return free_port()


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'clinic.db'}"


@pytest.fixture(scope="module")
def servers(tmp_path_factory, smtp_port, database):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp("callback-e2e")
    env = {
        "DATABASE_URL": database,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_TIMEOUT": "2",
        "OUTBOX_RETRY_SECONDS": "0.5",
        "OUTBOX_BACKOFF_SECONDS": "0.5",
        "CLINIC_SETTINGS": str(
            PROJECT_ROOT / "tests" / "fixtures" / "always_closed.yml"
        ),
    }
    servers = Servers(root / "conversations.db", root / "servers.log", env)
    servers.start()
    yield servers
    servers.stop()


def sender() -> str:
    return f"callback-{uuid.uuid4().hex[:12]}"


def test_closed_clinic_callback_is_stored_and_mailed_once_smtp_is_back(
    servers, smtp_port, database
):
    user = sender()
    [closed] = servers.say(user, "can I speak to someone at the clinic")
    assert "closed right now" in closed["text"] and "(02) 5550 0000" in closed["text"]
    assert closed["buttons"][0]["payload"] == "/request_callback"
    assert "first name" in servers.say(user, "/request_callback")[-1]["text"]
    assert "What number" in servers.say(user, "Mia")[-1]["text"]
    done = servers.say(user, "0412 345 678")[-1]["text"]
    reference = done.split("reference is ")[1].split(".")[0]
    assert looks_like_reference(reference) and "0412 345 678" in done

    store = BookingStore(database)
    [row] = [b for b in store.list() if b.conversation_id == f"rest:{user}"]
    assert (row.kind, row.name, row.phone) == ("callback", "Mia", "+61412345678")
    assert store.notification_status(reference) == {"email": "pending"}

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not inbox.messages:
            time.sleep(0.2)
    finally:
        controller.stop()
    [mail] = inbox.messages
    assert mail["Subject"].startswith(f"Callback request {reference}")
    assert store.notification_status(reference) == {"email": "sent"}


def test_typed_request_and_stop(servers, database):
    user = sender()
    assert (
        "first name"
        in servers.say(user, "could someone ring me back later")[-1]["text"]
    )
    reply = servers.say(user, "stop")[-1]["text"]
    assert "stopped the callback request" in reply
    assert [
        b for b in BookingStore(database).list() if b.conversation_id == f"rest:{user}"
    ] == []
