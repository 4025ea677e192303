"""Local stand-ins for the Twilio, Graph and Telegram Bot APIs.

Each answers like the real API and records what it received, so tests can
check the wire format the channels send without reaching the internet.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class StandIn:
    """One provider's API; ``url`` is what the channel's API URL setting gets."""

    received: list[Received] = field(default_factory=list)
    url: str = ""
    prefix = ""

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def calls(self, path_suffix: str) -> list[Received]:
        return [r for r in list(self.received) if r.path.endswith(path_suffix)]

    def wait_for(
        self, check: Callable[[list[Received]], bool], timeout: float = 60
    ) -> list[Received]:
        """Poll until ``check`` holds for what was received, or fail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = list(self.received)
            if check(received):
                return received
            time.sleep(0.1)
        raise AssertionError(f"{type(self).__name__} did not get it: {received}")

    async def _record(self, request: web.Request) -> Received:
        raw = await request.read()
        if request.content_type == "application/json":
            body = json.loads(raw or b"{}")
        else:
            body = dict(await request.post())
        received = Received(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            body,
        )
        self.received.append(received)
        return received


@dataclass
class TwilioStandIn(StandIn):
    account_sid: str = ""
    auth_token: str = ""

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
        ]

    async def create_message(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        expected = base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()
        ).decode()
        if received.headers.get("Authorization") != f"Basic {expected}" or (
            request.match_info["sid"] != self.account_sid
        ):
            return web.json_response(
                {"code": 20003, "message": "Authenticate", "status": 401}, status=401
            )
        sid = "SM" + uuid.uuid4().hex
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "from": received.body.get("From"),
                "to": received.body.get("To"),
                "body": received.body.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
            status=201,
        )


@dataclass
class GraphStandIn(StandIn):
    page_access_token: str = ""
    prefix = "/v17.0"

    def routes(self) -> list[web.RouteDef]:
        return [web.post(f"{self.prefix}/me/messages", self.send_message)]

    async def send_message(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        if received.query.get("access_token") != self.page_access_token:
            return web.json_response(
                {
                    "error": {
                        "message": "Invalid OAuth access token.",
                        "type": "OAuthException",
                        "code": 190,
                    }
                },
                status=400,
            )
        return web.json_response(
            {
                "recipient_id": received.body["recipient"]["id"],
                "message_id": "m_" + uuid.uuid4().hex,
            }
        )


@dataclass
class TelegramStandIn(StandIn):
    access_token: str = ""
    bot_name: str = ""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/bot{token}/{method}", self.call)]

    async def call(self, request: web.Request) -> web.Response:
        received = await self._record(request)
        if request.match_info["token"] != self.access_token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
                status=401,
            )
        method = request.match_info["method"]
        chat = str(received.body.get("chat_id", "0"))
        if method == "sendMessage" and not chat.lstrip("-").isdigit():
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: chat not found",
                },
                status=400,
            )
        results = {
            "setWebhook": lambda: True,
            "getMe": self._me,
            "sendMessage": lambda: self._message(received.body),
            "answerCallbackQuery": lambda: True,
        }
        if method not in results:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"},
                status=404,
            )
        return web.json_response({"ok": True, "result": results[method]()})

    def _me(self) -> dict[str, Any]:
        return {
            "id": int(self.access_token.split(":")[0]),
            "is_bot": True,
            "first_name": "Clinic",
            "username": self.bot_name,
        }

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": len(self.received),
            "from": self._me(),
            "chat": {"id": int(body["chat_id"]), "type": "private"},
            "date": int(time.time()),
            "text": body.get("text", ""),
        }


class StandInServer:
    """Serves stand-ins on free local ports from one background thread."""

    def __init__(self, *stand_ins: StandIn) -> None:
        self.stand_ins = stand_ins
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []

    def start(self) -> None:
        self._thread.start()
        for stand_in in self.stand_ins:
            port = asyncio.run_coroutine_threadsafe(
                self._serve(stand_in), self._loop
            ).result(timeout=10)
            stand_in.url = f"http://127.0.0.1:{port}{stand_in.prefix}"

    async def _serve(self, stand_in: StandIn) -> int:
        app = web.Application()
        app.add_routes(stand_in.routes())
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        return runner.addresses[0][1]

    def stop(self) -> None:
        async def cleanup() -> None:
            for runner in self._runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> StandInServer:
        self.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()


class DroppingActionServer:
    """Reads each request and hangs up without an answer, ``drops`` times
    (what a keep-alive connection closed by a reloading nginx looks like),
    then answers like the action server."""

    def __init__(self, drops: int):
        self.drops = drops
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                )
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                if self.requests <= self.drops:
                    continue
                answer = b'{"events": [], "responses": []}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: "
                    + str(len(answer)).encode()
                    + b"\r\n\r\n"
                    + answer
                )

    def __enter__(self) -> DroppingActionServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.listener.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"
