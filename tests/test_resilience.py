"""Action server down or slow: a short apology with the phone number within
two seconds, never silence, and no form answer kept without its check."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid

import pytest
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.shared.core.events import BotUttered, SlotSet
from rasa.utils.endpoints import EndpointConfig

from bot import PROJECT_ROOT, resilience
from tests.servers import MODEL, Servers, free_port


class SlowActionServer:
    """Accepts action calls and answers only after ``delay`` seconds."""

    def __init__(self, delay: float):
        self.delay = delay
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay)
        return web.json_response({"events": [], "responses": []})

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        self.loop.run_forever()

    def __enter__(self) -> SlowActionServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("stand-in action server did not start")

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"


@pytest.fixture(autouse=True)
def patched():
    resilience.apply()


def tracker_for(slots: dict | None = None):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(PROJECT_ROOT / "domain.yml")
    tracker = DialogueStateTracker("resilience-user", domain.slots)
    for name, value in (slots or {}).items():
        tracker.update(SlotSet(name, value))
    return tracker, domain


async def run_action(name: str, url: str, slots: dict | None = None):
    tracker, domain = tracker_for(slots)
    channel = CollectingOutputChannel()
    started = time.monotonic()
    events = await RemoteAction(name, EndpointConfig(url)).run(
        channel, None, tracker, domain
    )
    return events, time.monotonic() - started


async def test_down_action_server_gives_an_apology_with_the_phone():
    events, took = await run_action(
        "action_give_disclaimer", f"http://127.0.0.1:{free_port()}/webhook"
    )
    [apology] = events
    assert isinstance(apology, BotUttered)
    assert "(02) 5550 1234" in apology.text and "couldn't finish" in apology.text
    assert took < 2


async def test_slow_action_server_is_cut_off_before_two_seconds():
    with SlowActionServer(delay=5) as slow:
        events, took = await run_action("action_submit_booking", slow.url)
    assert isinstance(events[0], BotUttered) and took < 2
    assert "can't confirm your request" in events[0].text


async def test_an_answer_that_could_not_be_checked_is_not_kept():
    events, _ = await run_action(
        "validate_booking_form",
        f"http://127.0.0.1:{free_port()}/webhook",
        {"requested_slot": "phone", "phone": "0412 345 678"},
    )
    assert SlotSet("phone", None) in events


def test_one_apology_per_message():
    tracker, _ = tracker_for()
    channel = CollectingOutputChannel()
    first = resilience.fallback_events("action_x", tracker, channel)
    second = resilience.fallback_events("action_y", tracker, channel)
    assert len(first) == 1 and second == []


@pytest.fixture(scope="module")
def servers_without_actions(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp("resilience")
    env = {
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}/webhook",
        "DATABASE_URL": f"sqlite:///{root / 'clinic.db'}",
    }
    servers = Servers(root / "conversations.db", root / "servers.log", env)
    servers.start()
    yield servers
    servers.stop()


def test_e2e_action_server_down(servers_without_actions):
    servers = servers_without_actions
    user = f"down-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    reply = [m["text"] for m in servers.say(user, "does it hurt?")]
    assert time.monotonic() - started < 2
    assert "(02) 5550 1234" in reply[0] and "cramp" in reply[-1]
    servers.say(user, "/book_appointment")
    started = time.monotonic()
    reply = [m["text"] for m in servers.say(user, "Priya")]
    assert time.monotonic() - started < 2
    assert "couldn't finish" in reply[0] and "first name" in reply[-1]
