"""A patient on any channel, for the end-to-end tests: REST, socket.io, and
WhatsApp, Messenger and Telegram through the providers' stand-ins."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from contextlib import closing, contextmanager

import socketio

from bot import PROJECT_ROOT
from tests.e2e import test_channels_e2e as wire
from tests.servers import say
from tests.standins import GraphStandIn, StandInServer, TelegramStandIn, TwilioStandIn

CHANNELS = ("rest", "socketio", "whatsapp", "messenger", "telegram")
QUIET, SILENT, MAX_WAIT, DAY = 0.6, 6.0, 30.0, 86400
# How long a test waits for a socket.io client to close before going on.
DISCONNECT_WAIT = 1.0


@contextmanager
def provider_standins():
    """Twilio, Meta's Graph API and Telegram, speaking their wire formats."""
    twilio = TwilioStandIn(account_sid=wire.TWILIO_SID, auth_token=wire.TWILIO_TOKEN)
    graph = GraphStandIn(page_access_token=wire.FB_PAGE_TOKEN)
    telegram = TelegramStandIn(access_token=wire.TG_TOKEN, bot_name="clinic_test_bot")
    with StandInServer(twilio, graph, telegram):
        yield twilio, graph, telegram


def all_channels_env(providers, inbox, database: str) -> dict[str, str]:
    """The servers' environment with every messaging channel on, mail to
    ``inbox``, bookings in ``database`` and a clinic that is always open."""
    twilio, graph, telegram = providers
    return {
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


def fold(text: str) -> str:
    """Case, curly quotes and dash styles don't matter when matching."""
    table = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-"})
    return text.translate(table).casefold()


def message_text(message: dict) -> str:
    """A reply's text with the titles of its buttons or quick replies."""
    titles = [b.get("title", "") for b in message.get("buttons") or []]
    titles += [q.get("title", "") for q in message.get("quick_replies") or []]
    return "\n".join(t for t in [message.get("text") or "", *titles] if t)


def collect(outbox, before: int, quiet: float = QUIET) -> list[str]:
    """Replies pushed after ``before``, once they stop coming."""
    start = last_change = time.monotonic()
    count = before
    while time.monotonic() - start < MAX_WAIT:
        now = len(outbox())
        if now != count:
            count, last_change = now, time.monotonic()
        if time.monotonic() - last_change >= (quiet if count > before else SILENT):
            break
        time.sleep(0.1)
    return outbox()[before:]


def disconnect(client: socketio.Client) -> None:
    """The socket.io client's disconnect joins its polling thread, which
    waits for the long poll to return (up to the server's ping interval, and
    once it hung a whole run); no test's assertions depend on it finishing,
    so it finishes in the background."""
    closer = threading.Thread(target=client.disconnect, daemon=True)
    closer.start()
    closer.join(DISCONNECT_WAIT)


class Widget:
    """A raw socket.io client, as the widget's page opens one, recording the
    replies and the session ids the server gives it."""

    def __init__(self, servers) -> None:
        self.replies: list[dict] = []
        self.confirmed: list[str] = []
        self._confirmation = threading.Event()
        self.client = socketio.Client()
        self.client.on("bot_uttered", self.replies.append)
        self.client.on("session_confirm", self._confirm)
        self.client.connect(
            servers.url,
            socketio_path="/socket.io",
            headers={"Origin": servers.web_url},
            transports=["polling"],
            wait_timeout=30,
        )

    def _confirm(self, session_id: str) -> None:
        self.confirmed.append(session_id)
        self._confirmation.set()

    def request_session(self, session_id: object = None) -> str:
        """Ask for a session presenting ``session_id``; the id given."""
        self._confirmation.clear()
        self.client.emit("session_request", {"session_id": session_id})
        assert self._confirmation.wait(30), "socket.io session was not confirmed"
        return self.confirmed[-1]

    def texts(self) -> list[str]:
        return [message_text(m) for m in self.replies]

    def say(self, text: str, session_id: object = None) -> list[str]:
        """A ``user_uttered`` (claiming ``session_id``); the replies to it."""
        before = len(self.replies)
        self.client.emit("user_uttered", {"message": text, "session_id": session_id})
        return collect(self.texts, before)

    def close(self) -> None:
        disconnect(self.client)

    def __enter__(self) -> Widget:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Chat:
    """One patient on one channel; ``send`` returns the bot's replies."""

    def __init__(self, channel: str, servers, providers, quiet: float = QUIET):
        self.channel, self.servers, self.quiet = channel, servers, quiet
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

        def confirm(session_id: str) -> None:
            self.id = session_id
            confirmed.set()

        self.sio.on("session_confirm", confirm)
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
        self.sio.emit("session_request", {"session_id": None})
        assert confirmed.wait(30), "socket.io session was not confirmed"

    @property
    def conversation(self) -> str:
        """The id the server keeps this conversation under."""
        if self.channel == "whatsapp":
            return self.id  # Twilio's own address: whatsapp:+61...
        namespace = {"socketio": "web"}.get(self.channel, self.channel)
        return f"{namespace}:{self.id}"

    def close(self) -> None:
        if self.channel == "socketio":
            disconnect(self.sio)

    def send(self, text: str) -> list[str]:
        if self.channel == "rest":
            return [message_text(m) for m in say(self.servers.url, self.id, text)]
        outbox = getattr(self, f"_{self.channel}_outbox")
        before = len(outbox())
        getattr(self, f"_{self.channel}_send")(text)
        return collect(outbox, before, self.quiet)

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
