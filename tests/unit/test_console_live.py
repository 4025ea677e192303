"""Live chats on the console, without a browser, against a stand-in of
Rasa's HTTP API that records what the console asks of it: taking a chat
tells the patient who joined, replies go out through the patient's channel,
handing back resumes the assistant, and whoever waits too long is offered a
callback, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.console.accounts import Accounts
from bot.db import utcnow
from bot.handoff import timer
from bot.handoff.queue import ACTIVE, MISSED, RETURNED, WAITING, HandoffQueue
from bot.handoff.rasa_api import RasaAPI
from bot.web.server import create_app
from tests.unit.test_console_web import PASSWORD, hidden_csrf, log_in
from tests.unit.test_web import clinic

pytestmark = pytest.mark.usefixtures("quick_hashes")
CONVERSATION = "telegram:4242"


class RasaStandIn:
    """Rasa's conversation endpoints, as far as the console uses them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict, object]] = []
        self.events: dict[str, list[dict]] = {}
        self.down = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/conversations/{id}/{rest:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        if self.down:
            return web.json_response({"error": "down"}, status=500)
        assert request.headers["Authorization"] == "Bearer api-token"
        conversation, rest = request.match_info["id"], request.match_info["rest"]
        body = await request.json() if request.can_read_body else None
        self.calls.append((request.method, rest, dict(request.query), body))
        events = self.events.setdefault(conversation, [])
        if rest == "tracker/events":
            events.extend(body)
        elif rest == "execute":
            events.append({"event": "bot", "text": f"[{body['name']}]"})
        return web.json_response({"sender_id": conversation, "events": events})


@pytest.fixture
async def rasa():
    standin = RasaStandIn()
    async with TestServer(standin.app()) as server:
        standin.url = str(server.make_url("")).rstrip("/")
        yield standin


@pytest.fixture
async def console(monkeypatch, tmp_path, rasa, node_modules):
    from bot.settings import load_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    monkeypatch.setenv("RASA_API_URL", rasa.url)
    monkeypatch.setenv("RASA_API_TOKEN", "api-token")
    settings = load_settings()
    accounts = Accounts(settings.database_url)
    accounts.add("desk@clinic.example", PASSWORD, "Jo")
    accounts.add("other@clinic.example", PASSWORD, "Sam")
    queue = HandoffQueue(settings.database_url)
    app = create_app(settings, clinic(), node_modules)
    async with TestClient(TestServer(app)) as client:
        client.queue, client.accounts = queue, accounts
        yield client
    accounts.engine.dispose()
    queue.engine.dispose()


async def staff(client, email="desk@clinic.example") -> tuple[dict, str]:
    response = await log_in(client, email=email)
    token = response.cookies["staff_session"].value
    headers = {"Cookie": f"staff_session={token}"}
    page = await (await client.get("/staff/handoffs", headers=headers)).text()
    return headers, hidden_csrf(page)


async def post(client, path, headers, csrf, **fields):
    return await client.post(
        path, data={"csrf": csrf, **fields}, headers=headers, allow_redirects=False
    )


async def test_a_waiting_patient_is_listed_with_channel_and_wait(console):
    console.queue.request(CONVERSATION, "telegram", "k1")
    headers, _ = await staff(console)
    page = await (await console.get("/staff/handoffs", headers=headers)).text()
    assert "Telegram" in page and "waiting" in page and "/staff/handoffs/1" in page
    data = await (await console.get("/staff/handoffs.json", headers=headers)).json()
    assert [(h["conversation"], h["status"]) for h in data["open"]] == [
        (CONVERSATION, WAITING)
    ]


async def test_take_reply_and_hand_back_go_through_rasas_channels(console, rasa):
    h = console.queue.request(CONVERSATION, "telegram", "k1")
    rasa.events[CONVERSATION] = [
        {"event": "user", "text": "/greet", "timestamp": 0},
        {"event": "user", "text": "/faq_side_effects", "timestamp": 0},
        {"event": "user", "text": "can I talk to a person", "timestamp": 1},
    ]
    headers, csrf = await staff(console)

    took = await post(console, f"/staff/handoffs/{h.id}/take", headers, csrf)
    assert took.status == 303 and "problem" not in took.headers["Location"]
    assert console.queue.get(h.id).status == ACTIVE
    assert rasa.calls[0] == (
        "POST", "tracker/events", {},
        [{"event": "slot", "name": "handoff_staff", "value": "Jo"}],
    )  # fmt: skip
    assert rasa.calls[1] == (
        "POST", "execute", {"output_channel": "telegram"},
        {"name": "utter_handoff_taken"},
    )  # fmt: skip

    assert rasa.calls[2][1:] == (
        "tracker/events",
        {},
        [{"event": "action", "name": "action_listen"}],
    )
    sent = await post(
        console, f"/staff/handoffs/{h.id}/reply", headers, csrf,
        text="Hi, Jo here.   How can I help?",
    )  # fmt: skip
    assert sent.status == 303
    method, path, query, body = rasa.calls[3]
    assert (method, path) == ("POST", "tracker/events")
    assert query == {"output_channel": "telegram", "execute_side_effects": "true"}
    assert body == [
        {"event": "bot", "text": "Hi, Jo here. How can I help?",
         "metadata": {"staff": "Jo"}}
    ]  # fmt: skip

    chat = await (
        await console.get(f"/staff/handoffs/{h.id}.json", headers=headers)
    ).json()
    assert [(m["who"], m["text"]) for m in chat["messages"]] == [
        ("Patient", "(opened the chat)"),
        ("Patient", "(chose faq_side_effects)"),
        ("Patient", "can I talk to a person"),
        ("Assistant", "[utter_handoff_taken]"),
        ("Jo", "Hi, Jo here. How can I help?"),
    ]

    back = await post(console, f"/staff/handoffs/{h.id}/return", headers, csrf)
    assert back.status == 303 and back.headers["Location"] == "/staff/handoffs"
    assert rasa.calls[-2][1:] == (
        "execute",
        {"output_channel": "telegram"},
        {"name": "utter_handoff_returned"},
    )
    assert rasa.calls[-1][3] == [
        {"event": "resume"},
        {"event": "action", "name": "action_listen"},
    ]
    assert console.queue.get(h.id).status == RETURNED
    actions = [e.action for e in console.accounts.audit_log()]
    assert {"took a chat", "replied in a chat", "handed a chat back"} <= set(actions)


async def test_only_one_staff_member_gets_a_chat_and_only_they_reply(console, rasa):
    h = console.queue.request(CONVERSATION, "telegram", "k1")
    jo, jo_csrf = await staff(console)
    sam, sam_csrf = await staff(console, "other@clinic.example")
    assert (
        await post(console, f"/staff/handoffs/{h.id}/take", jo, jo_csrf)
    ).status == 303
    second = await post(console, f"/staff/handoffs/{h.id}/take", sam, sam_csrf)
    assert second.headers["Location"].endswith("?problem=taken")
    page = await (await console.get(second.headers["Location"], headers=sam)).text()
    assert "Someone else has taken this chat" in page
    calls = len(rasa.calls)
    refused = await post(
        console, f"/staff/handoffs/{h.id}/reply", sam, sam_csrf, text="hello"
    )
    assert "problem=not_yours" in refused.headers["Location"]
    assert len(rasa.calls) == calls


async def test_live_chat_forms_need_the_csrf_token_and_a_login(console, rasa):
    h = console.queue.request(CONVERSATION, "telegram", "k1")
    headers, _ = await staff(console)
    forged = await post(console, f"/staff/handoffs/{h.id}/take", headers, "forged")
    assert forged.status == 403
    anonymous = await post(console, f"/staff/handoffs/{h.id}/take", {}, "x")
    assert anonymous.status == 403
    for path in ("/staff/handoffs", "/staff/handoffs.json", f"/staff/handoffs/{h.id}"):
        response = await console.get(path, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/staff/login"
    assert console.queue.get(h.id).status == WAITING and rasa.calls == []


async def test_a_problem_is_shown_by_code_only(console):
    h = console.queue.request(CONVERSATION, "telegram", "k1")
    headers, _ = await staff(console)
    page = await console.get(
        f"/staff/handoffs/{h.id}?problem=Call+0400+000+000+now", headers=headers
    )
    assert "0400" not in await page.text()


async def test_rasa_down_leaves_the_chat_to_try_again(console, rasa):
    h = console.queue.request(CONVERSATION, "telegram", "k1")
    headers, csrf = await staff(console)
    await post(console, f"/staff/handoffs/{h.id}/take", headers, csrf)
    rasa.down = True
    unsent = await post(
        console, f"/staff/handoffs/{h.id}/reply", headers, csrf, text="hi"
    )
    assert "problem=unsent" in unsent.headers["Location"]
    stuck = await post(console, f"/staff/handoffs/{h.id}/return", headers, csrf)
    assert "problem=unreturned" in stuck.headers["Location"]
    assert console.queue.get(h.id).status == ACTIVE
    rasa.down = False
    assert (
        await post(console, f"/staff/handoffs/{h.id}/return", headers, csrf)
    ).headers["Location"] == "/staff/handoffs"


async def test_nobody_taking_it_offers_a_callback_once(tmp_path, rasa):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    queue, other_instance = HandoffQueue(url), HandoffQueue(url)
    api = RasaAPI(rasa.url, "api-token")
    old = queue.request(
        CONVERSATION, "telegram", "k1", now=utcnow() - timedelta(minutes=4)
    )
    fresh = queue.request("web:abc", "socketio", "k2")

    offered = await timer.offer_callbacks(queue, api, timedelta(minutes=3))
    again = await timer.offer_callbacks(other_instance, api, timedelta(minutes=3))

    assert (offered, again) == (1, 0)
    assert queue.get(old.id).status == MISSED and queue.get(fresh.id).status == WAITING
    assert [c[1:] for c in rasa.calls] == [
        ("tracker/events", {}, [{"event": "resume"},
                                {"event": "action", "name": "action_listen"}]),
        ("execute", {"output_channel": "telegram"}, {"name": "utter_handoff_missed"}),
        ("tracker/events", {}, [{"event": "action", "name": "action_listen"}]),
    ]  # fmt: skip


async def test_a_callback_offer_that_could_not_be_sent_is_tried_again(tmp_path, rasa):
    queue = HandoffQueue(f"sqlite:///{tmp_path / 'clinic.db'}")
    api = RasaAPI(rasa.url, "api-token")
    h = queue.request(CONVERSATION, "telegram", "k1", now=utcnow() - timedelta(hours=1))
    rasa.down = True
    assert await timer.offer_callbacks(queue, api, timedelta(minutes=3)) == 0
    assert queue.get(h.id).status == WAITING
    rasa.down = False
    assert await timer.offer_callbacks(queue, api, timedelta(minutes=3)) == 1
    assert queue.get(h.id).status == MISSED
