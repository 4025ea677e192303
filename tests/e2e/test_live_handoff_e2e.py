"""A patient asks for a person, on every channel, and a staff member chats
with them from the console, against the real servers: the patient is told
who joined, the staff member's words arrive in the same chat (the widget's
socket, WhatsApp, Messenger and Telegram through the providers' stand-ins),
an emergency still gets its advice at once, and after the hand-back the
assistant answers again. A patient nobody takes is offered a callback."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest
import requests

from bot.console.accounts import AccountError, Accounts
from bot.handoff.queue import HandoffQueue
from tests.chat import Chat, all_channels_env, collect, fold
from tests.servers import MODEL, Servers

WAIT_SECONDS = 8
PASSWORD = "a long staff password"


@pytest.fixture(scope="module")
def live_servers(providers, tmp_path_factory, inbox, database):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp("live_handoff")
    env = {
        **all_channels_env(providers, inbox, database),
        "HANDOFF_WAIT_SECONDS": str(WAIT_SECONDS),
    }
    servers = Servers(root / "conversations.db", root / "servers.log", env)
    servers.start()
    yield servers
    servers.stop()


class Reception:
    """A staff member at the console, over HTTP like a browser."""

    def __init__(self, servers, database: str, email: str, name: str) -> None:
        accounts = Accounts(database)
        try:
            accounts.add(email, PASSWORD, name)
        except AccountError:
            pass  # made by an earlier test of this module
        accounts.engine.dispose()
        self.base = servers.web_url
        self.http = requests.Session()
        form = self.http.get(f"{self.base}/staff/login", timeout=10)
        login_cookie = form.cookies["staff_login_csrf"]
        response = self.http.post(
            f"{self.base}/staff/login",
            data={"email": email, "password": PASSWORD, "csrf": self.csrf(form.text)},
            headers={"Cookie": f"staff_login_csrf={login_cookie}"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 303, response.text
        # The cookie is Secure (browsers send it to localhost over HTTP;
        # requests does not), so it goes in the header.
        self.cookie = {"Cookie": f"staff_session={response.cookies['staff_session']}"}

    @staticmethod
    def csrf(page: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{path}", headers=self.cookie, timeout=10)

    def post(self, path: str, **fields: str) -> requests.Response:
        page = self.get("/staff/handoffs").text
        return self.http.post(
            f"{self.base}{path}",
            data={"csrf": self.csrf(page), **fields},
            headers=self.cookie,
            allow_redirects=False,
            timeout=15,
        )

    def waiting(self, conversation: str) -> dict:
        for _ in range(50):
            for h in self.get("/staff/handoffs.json").json()["open"]:
                if h["conversation"] == conversation:
                    return h
            time.sleep(0.2)
        raise AssertionError(f"{conversation} never reached the queue")

    def transcript(self, handoff_id: int) -> list[tuple[str, str]]:
        chat = self.get(f"/staff/handoffs/{handoff_id}.json").json()
        return [(m["who"], m["text"]) for m in chat["messages"]]


def received(chat: Chat) -> list[str]:
    return getattr(chat, f"_{chat.channel}_outbox")()


def arrives(chat: Chat, before: int, wanted: str, timeout: float = 20) -> list[str]:
    """The messages pushed to the patient since ``before``, once one
    contains ``wanted``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = received(chat)[before:]
        if any(fold(wanted) in fold(t) for t in new):
            return new
        time.sleep(0.1)
    raise AssertionError(f"{wanted!r} never reached the patient; got {new}")


@pytest.mark.parametrize("channel", ["socketio", "telegram", "whatsapp", "messenger"])
def test_reception_chats_live_with_a_patient(
    channel, live_servers, providers, database
):
    jo = Reception(live_servers, database, "jo@clinic.example", "Jo")
    chat = Chat(channel, live_servers, providers)
    try:
        assert chat.send("does dry needling hurt")
        asked = chat.send("can I talk to a real person please")
        assert any("a person will reply" in fold(t) for t in asked), asked
        handoff = jo.waiting(chat.conversation)
        assert handoff["status"] == "waiting"

        before = len(received(chat))
        taken = jo.post(f"/staff/handoffs/{handoff['id']}/take")
        assert taken.status_code == 303 and "problem" not in taken.headers["Location"]
        assert arrives(chat, before, "You're now chatting with Jo from reception")

        assert chat.send("hello? are you there?") == []
        assert ("Patient", "hello? are you there?") in jo.transcript(handoff["id"])

        before = len(received(chat))
        reply = "Hi, Jo here. We can see you Tuesday at 10, does that suit?"
        sent = jo.post(f"/staff/handoffs/{handoff['id']}/reply", text=reply)
        assert "problem" not in sent.headers["Location"]
        assert arrives(chat, before, reply)

        urgent = chat.send("I have crushing chest pain right now")
        assert any("000" in t for t in urgent), urgent

        before = len(received(chat))
        back = jo.post(f"/staff/handoffs/{handoff['id']}/return")
        assert back.headers["Location"] == "/staff/handoffs"
        assert arrives(chat, before, "You're back with the assistant")

        answer = chat.send("what are the side effects")
        assert any("bruis" in fold(t) or "sore" in fold(t) for t in answer), answer
        assert HandoffQueue(database).get(handoff["id"]).status == "returned"
    finally:
        chat.close()


def test_nobody_free_means_a_callback_offer(live_servers, providers, database):
    chat = Chat("telegram", live_servers, providers)
    asked = chat.send("I'd like to speak to a human")
    assert any("a person will reply" in fold(t) for t in asked), asked
    before = len(received(chat))
    # Offered once the wait is over, by the console's timer (every 5 s).
    offer = arrives(chat, before, "nobody at reception is free", WAIT_SECONDS + 20)
    assert any("Yes, call me back" in t for t in offer)
    assert collect(lambda: received(chat), len(received(chat)), 2) == []
    name = chat.send("yes please")
    assert any("what's your first name" in fold(t) for t in name), name
    queue = HandoffQueue(database)
    ended = [h.status for h in queue.since(datetime(2000, 1, 1, tzinfo=timezone.utc))
             if h.conversation_id == chat.conversation]  # fmt: skip
    assert ended == ["missed"]
    chat.close()
