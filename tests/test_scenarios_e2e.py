"""Patient scenarios (tests/scenarios/*.yml) typed on their channel at the real
servers; replies and the stored booking (or its absence) are checked."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from contextlib import closing

import pytest
import requests
import socketio
import yaml

from bot import PROJECT_ROOT
from bot.booking.store import BookingStore
from tests import test_channels_e2e as wire
from tests.servers import MODEL, Servers, say
from tests.standins import GraphStandIn, StandInServer, TelegramStandIn, TwilioStandIn

SCENARIOS = PROJECT_ROOT / "tests" / "scenarios"
CHANNELS = ("rest", "socketio", "whatsapp", "messenger", "telegram")
TURN_KEYS = set("user wait expect_any expect_all expect_none expect_in_order".split())
QUIET, SILENT, MAX_WAIT, DAY = 1.5, 6.0, 30.0, 86400


def load_scenarios() -> list[dict]:
    found = []
    for path in sorted(SCENARIOS.glob("*.yml")):
        for scenario in yaml.safe_load(path.read_text(encoding="utf8"))["scenarios"]:
            found.append({**scenario, "file": path.name})
    return found


ALL = load_scenarios()


@pytest.fixture(scope="module")
def providers():
    twilio = TwilioStandIn(account_sid=wire.TWILIO_SID, auth_token=wire.TWILIO_TOKEN)
    graph = GraphStandIn(page_access_token=wire.FB_PAGE_TOKEN)
    telegram = TelegramStandIn(access_token=wire.TG_TOKEN, bot_name="clinic_test_bot")
    with StandInServer(twilio, graph, telegram):
        yield twilio, graph, telegram


@pytest.fixture(scope="module")
def servers(providers, tmp_path_factory, inbox, database):
    """All messaging channels on, mail to ``inbox``, bookings in ``database``
    and a clinic that is always open."""
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    twilio, graph, telegram = providers
    root = tmp_path_factory.mktemp("scenarios")
    env = {
        "TWILIO_ACCOUNT_SID": wire.TWILIO_SID,
        "TWILIO_AUTH_TOKEN": wire.TWILIO_TOKEN,
        "TWILIO_WHATSAPP_NUMBER": wire.CLINIC_NUMBER,
        "TWILIO_WEBHOOK_URL": wire.TWILIO_PUBLIC_URL,
        "TWILIO_API_URL": twilio.url,
        "FACEBOOK_VERIFY_TOKEN": wire.FB_VERIFY,
        "FACEBOOK_APP_SECRET": wire.FB_SECRET,
        "FACEBOOK_PAGE_ACCESS_TOKEN": wire.FB_PAGE_TOKEN,
        "FACEBOOK_API_URL": graph.url,
        "TELEGRAM_ACCESS_TOKEN": wire.TG_TOKEN,
        "TELEGRAM_BOT_NAME": "clinic_test_bot",
        "TELEGRAM_WEBHOOK_URL": wire.TG_PUBLIC_URL,
        "TELEGRAM_SECRET_TOKEN": wire.TG_SECRET,
        "TELEGRAM_API_URL": telegram.url,
        "DATABASE_URL": database,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(inbox.port),
        "CLINIC_SETTINGS": str(PROJECT_ROOT / "tests/fixtures/always_open.yml"),
    }
    servers = Servers(root / "conversations.db", root / "servers.log", env)
    servers.start()
    yield servers
    servers.stop()


def fold(text: str) -> str:
    """Case, curly quotes and dash styles don't matter when matching."""
    table = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-"})
    return text.translate(table).casefold()


def message_text(message: dict) -> str:
    """A reply's text with the titles of its buttons or quick replies."""
    titles = [b.get("title", "") for b in message.get("buttons") or []]
    titles += [q.get("title", "") for q in message.get("quick_replies") or []]
    return "\n".join(t for t in [message.get("text") or "", *titles] if t)


def collect(outbox, before: int) -> list[str]:
    """Replies pushed after ``before``, once they stop coming."""
    start = last_change = time.monotonic()
    count = before
    while time.monotonic() - start < MAX_WAIT:
        now = len(outbox())
        if now != count:
            count, last_change = now, time.monotonic()
        quiet = time.monotonic() - last_change
        if quiet >= (QUIET if count > before else SILENT):
            break
        time.sleep(0.1)
    return outbox()[before:]


class Chat:
    """One patient on one channel; ``send`` returns the bot's replies."""

    def __init__(self, channel: str, servers, providers):
        self.channel, self.servers = channel, servers
        self.twilio, self.graph, self.telegram = providers
        self.id = {
            "whatsapp": wire.whatsapp_number(),
            "messenger": str(uuid.uuid4().int)[:16],
            "telegram": str(uuid.uuid4().int % 10**12),
        }.get(channel, "scn-" + uuid.uuid4().hex[:16])
        self.socket_replies: list[str] = []
        if channel == "socketio":
            self._connect()

    def _connect(self) -> None:
        confirmed = threading.Event()
        self.sio = socketio.Client()
        self.sio.on("session_confirm", lambda *_: confirmed.set())
        self.sio.on(
            "bot_uttered", lambda m: self.socket_replies.append(message_text(m))
        )
        self.sio.connect(
            self.servers.url,
            socketio_path="/socket.io",
            headers={"Origin": self.servers.web_url},
            transports=["polling"],
            wait_timeout=30,
        )
        self.sio.emit("session_request", {"session_id": self.id})
        assert confirmed.wait(30), "socket.io session was not confirmed"

    def close(self) -> None:
        if self.channel == "socketio":
            self.sio.disconnect()

    def send(self, text: str) -> list[str]:
        if self.channel == "rest":
            return [message_text(m) for m in say(self.servers.url, self.id, text)]
        outbox = getattr(self, f"_{self.channel}_outbox")
        before = len(outbox())
        getattr(self, f"_{self.channel}_send")(text)
        return collect(outbox, before)

    def _socketio_send(self, text: str) -> None:
        self.sio.emit("user_uttered", {"message": text, "session_id": self.id})

    def _socketio_outbox(self) -> list[str]:
        return list(self.socket_replies)

    def _whatsapp_send(self, text: str) -> None:
        """A form post signed with Twilio's RequestValidator."""
        assert wire.whatsapp_says(self.servers, self.id, text).status_code == 200

    def _whatsapp_outbox(self) -> list[str]:
        return wire.bodies_to(self.twilio, self.id)

    def _messenger_send(self, text: str) -> None:
        body = wire.fb_event(self.id, {"text": text})
        signature = wire.fb_sign(body, wire.FB_SECRET)
        assert wire.fb_post(self.servers, body, signature).status_code == 200

    def _messenger_outbox(self) -> list[str]:
        return [
            message_text(r.body["message"])
            for r in wire.messages_to(self.graph, self.id)
        ]

    def _telegram_send(self, text: str) -> None:
        update = wire.tg_message(int(self.id), text)
        assert wire.tg_post(self.servers, update, wire.TG_SECRET).status_code == 200

    def _telegram_outbox(self) -> list[str]:
        texts = []
        for call in wire.sent_to(self.telegram, int(self.id)):
            markup = call.body.get("reply_markup") or {}
            markup = json.loads(markup) if isinstance(markup, str) else markup
            rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
            titles = [b.get("text", "") for row in rows for b in row]
            texts.append("\n".join([call.body.get("text", ""), *titles]))
        return texts


def make_a_day_older(tracker_db, conversation_id: str) -> int:
    """Move the conversation's stored events 24 hours into the past."""
    with closing(sqlite3.connect(tracker_db)) as db, db:
        rows = db.execute("SELECT id, sender_id, data FROM events").fetchall()
        mine = [(i, d) for i, s, d in rows if s.endswith(conversation_id)]
        for event_id, data in mine:
            event = json.loads(data)
            event["timestamp"] = event.get("timestamp", time.time()) - DAY
            db.execute(
                "UPDATE events SET timestamp = timestamp - ?, data = ? WHERE id = ?",
                (DAY, json.dumps(event), event_id),
            )
    return len(mine)


def problems_with(turn: dict, replies: list[str]) -> list[str]:
    said = fold("\n".join(replies))
    found = []
    wanted_any = turn.get("expect_any") or []
    if wanted_any and not any(fold(w) in said for w in wanted_any):
        found.append(f"none of {wanted_any} in the replies")
    found += [
        f"{w!r} missing" for w in turn.get("expect_all") or [] if fold(w) not in said
    ]
    found += [
        f"{w!r} unwanted" for w in turn.get("expect_none") or [] if fold(w) in said
    ]
    position = 0
    for wanted in turn.get("expect_in_order") or []:
        at = said.find(fold(wanted), position)
        if at < 0:
            found.append(f"{wanted!r} not found after position {position} (order)")
            break
        position = at + len(fold(wanted))
    return found


def booking_problems(scenario: dict, conversation_id: str, database: str) -> list[str]:
    stored = BookingStore(database).list()  # ids may gain a channel prefix
    rows = [b for b in stored if b.conversation_id.endswith(conversation_id)]
    if scenario.get("stored") is False and rows:
        return [f"expected no booking, found {rows}"]
    expected = scenario.get("booking")
    if not expected:
        return []
    if not rows:
        return ["no booking stored for this conversation"]
    row, found = rows[-1], []
    for field in ("name", "phone", "email", "channel"):
        if field in expected and getattr(row, field) != expected[field]:
            found.append(
                f"{field}: stored {getattr(row, field)!r}, want {expected[field]!r}"
            )
    part = expected.get("concern_contains")
    if part and fold(part) not in fold(row.concern or ""):
        found.append(f"concern: stored {row.concern!r}, want it to contain {part!r}")
    return found


def test_scenario_files_are_well_formed():
    names = [s["name"] for s in ALL]
    assert len(names) >= 32 and len(set(names)) == len(names)
    for scenario in ALL:
        assert scenario["channel"] in CHANNELS, scenario["name"]
        for turn in scenario["turns"]:
            assert set(turn) <= TURN_KEYS and ("user" in turn) != ("wait" in turn)
            assert turn.get("wait", "next_day") == "next_day", scenario["name"]


@pytest.mark.parametrize("scenario", ALL, ids=[s["name"] for s in ALL])
def test_scenario(scenario, servers, providers, database):
    if servers.process.poll() is not None or not servers._ready():
        servers.stop()  # a crash (or a stray kill) fails one scenario, not the rest
        servers.start()
    chat = Chat(scenario["channel"], servers, providers)
    transcript = [
        f"# {scenario['name']} ({scenario['file']}) on {chat.channel}, id {chat.id}"
    ]

    def fail(where: str, found: list[str]) -> None:
        pytest.fail("\n".join([f"{where}: {'; '.join(found)}", "", *transcript]), False)

    try:
        for number, turn in enumerate(scenario["turns"], start=1):
            if "wait" in turn:
                moved = make_a_day_older(servers.tracker_db, chat.id)
                transcript.append(f"   ... a day later ({moved} events moved) ...")
                continue
            transcript.append(f"{number:>3} patient: {turn['user']}")
            replies = chat.send(turn["user"])
            transcript += [
                f"      bot: {r}".replace("\n", "\n           ") for r in replies
            ]
            found = problems_with(turn, replies)
            if found:
                fail(f"turn {number} ({turn['user']!r})", found)
        found = booking_problems(scenario, chat.id, database)
        if found:
            fail("stored booking", found)
    except requests.RequestException as error:
        fail("transport", [repr(error)])
    finally:
        chat.close()
