"""Action server down or slow: a short apology with the phone number within
two seconds, never silence, and no form answer kept without its check."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.shared.core.events import BotUttered, SlotSet
from rasa.utils.endpoints import EndpointConfig

from bot import PROJECT_ROOT
from bot.rasa import resilience
from bot.rasa.install import install
from tests.servers import free_port
from tests.standins import DroppingActionServer


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
    from bot.settings import load_settings

    install(load_settings())


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


def said(tracker, text: str, message_id: str):
    from rasa.shared.core.events import UserUttered

    tracker.update(UserUttered(text, {"name": "greet"}, message_id=message_id))
    return tracker


def test_one_channel_object_for_every_user_still_apologises_to_each():
    """Telegram's output channel is one object for the whole server: an
    apology to one patient must not silence the next failure for another,
    nor the same patient's next message."""
    channel = CollectingOutputChannel()
    shared_by_all = [
        said(tracker_for()[0], "does it hurt", "m1"),
        said(tracker_for()[0], "does it hurt", "m2"),
    ]
    shared_by_all[1].sender_id = "another-patient"
    for tracker in shared_by_all:
        assert len(resilience.fallback_events("action_x", tracker, channel)) == 1
    again = said(shared_by_all[0], "hello?", "m3")
    assert len(resilience.fallback_events("action_x", again, channel)) == 1
    assert resilience.fallback_events("action_y", again, channel) == []


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "nan", "99999"])
def test_a_bad_action_deadline_stops_with_a_message(monkeypatch, raw):
    from bot.settings import load_settings

    monkeypatch.setenv("ACTION_TIMEOUT_SECONDS", raw)
    with pytest.raises(SystemExit, match="ACTION_TIMEOUT_SECONDS"):
        load_settings()


async def test_the_deadline_comes_from_the_settings(monkeypatch):
    from bot.settings import load_settings

    monkeypatch.setenv("ACTION_TIMEOUT_SECONDS", "0.3")
    install(load_settings())
    try:
        with SlowActionServer(delay=1) as slow:
            events, took = await run_action("action_give_disclaimer", slow.url)
        assert isinstance(events[0], BotUttered) and took < 0.9
    finally:
        monkeypatch.delenv("ACTION_TIMEOUT_SECONDS")
        install(load_settings())


async def test_a_call_whose_connection_dropped_is_sent_once_more():
    """A reloading nginx closes idle kept-alive connections; a call that went
    out on one just then is sent again instead of ending in an apology."""
    with DroppingActionServer(drops=1) as server:
        events, took = await run_action("action_give_disclaimer", server.url)
    assert events == [] and server.requests == 2
    assert took < 1.5


async def test_a_connection_that_keeps_dropping_gets_the_apology():
    with DroppingActionServer(drops=5) as server:
        events, _ = await run_action("action_give_disclaimer", server.url)
    assert isinstance(events[0], BotUttered) and "couldn't finish" in events[0].text
    assert server.requests == 2
