"""Faults end to end: Rasa restarted mid-booking, database down at submit."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from bot import PROJECT_ROOT
from bot.booking.store import BookingStore
from tests.servers import MODEL, Servers, free_port, fresh_postgres_database


class SwitchableProxy:
    """A TCP forwarder to the database that can be cut and restored."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        self.writers.update({writer, up_writer})
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer)
        )

    async def _up(self):
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _down(self):
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.writers):
            writer.close()
        self.writers.clear()

    def up(self):
        asyncio.run_coroutine_threadsafe(self._up(), self.loop).result(10)

    def down(self):
        asyncio.run_coroutine_threadsafe(self._down(), self.loop).result(10)


@pytest.fixture(scope="module")
def postgres_database():
    return fresh_postgres_database("faults")


@pytest.fixture(scope="module")
def proxy(postgres_database):
    port = int(postgres_database.split("@")[1].split(":")[1].split("/")[0])
    proxy = SwitchableProxy(port)
    proxy.up()
    return proxy


@pytest.fixture(scope="module")
def servers(tmp_path_factory, postgres_database, proxy):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp("faults")
    via_proxy = postgres_database.replace(
        postgres_database.split("@")[1].split("/")[0], f"127.0.0.1:{proxy.port}"
    )
    env = {
        "DATABASE_URL": via_proxy,
        "TRACKER_DATABASE_URL": f"sqlite:///{root / 'conversations.db'}",
        "BOOKING_SPOOL": str(root / "spool.db"),
        "OUTBOX_RETRY_SECONDS": "0.5",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(free_port()),
        "SMTP_TIMEOUT": "1",
        "CLINIC_SETTINGS": str(PROJECT_ROOT / "tests" / "fixtures" / "always_open.yml"),
    }
    servers = Servers(root / "conversations.db", root / "servers.log", env)
    servers.start()
    yield servers
    servers.stop()


def last(messages: list[dict]) -> str:
    return messages[-1]["text"] if messages else ""


def book_until_confirmation(servers, user: str) -> None:
    servers.say(user, "/book_appointment")
    servers.say(user, "Lena")
    servers.say(user, "0412 345 678")
    servers.say(user, "skip")
    servers.say(user, "any time")
    assert "Please check your request" in last(servers.say(user, "tight shoulders"))


def test_database_down_at_submit_is_stored_once_it_is_back(
    servers, proxy, postgres_database
):
    user = f"dbdown-{uuid.uuid4().hex[:8]}"
    store = BookingStore(postgres_database)
    book_until_confirmation(servers, user)
    proxy.down()
    try:
        done = last(servers.say(user, "yes"))
        reference = done.split("reference is ")[1].split(".")[0]
        time.sleep(1.5)
        assert [b for b in store.list() if b.conversation_id == f"rest:{user}"] == []
    finally:
        proxy.up()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = [b for b in store.list() if b.conversation_id == f"rest:{user}"]
        if rows:
            break
        time.sleep(0.3)
    [row] = rows
    assert (row.reference, row.name, row.concern) == (
        reference,
        "Lena",
        "tight shoulders",
    )
    time.sleep(2)
    assert len([b for b in store.list() if b.conversation_id == f"rest:{user}"]) == 1


def test_rasa_restarted_mid_booking_resumes_at_the_same_question(servers):
    user = f"restart-{uuid.uuid4().hex[:8]}"
    servers.say(user, "/book_appointment")
    assert "phone number" in last(servers.say(user, "Omar"))
    servers.stop()
    servers.start()
    assert "email" in last(servers.say(user, "0412 345 678"))
