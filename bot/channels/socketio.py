"""Rasa's socket.io channel, limited to the allowed origins.

Rasa 3.6 builds its socket.io server with ``cors_allowed_origins=[]``, which
turns engine.io's origin check off, so any website could open a chat session
with the clinic's assistant. Handing the origins to engine.io instead makes it
write ``Access-Control-Allow-Origin`` on top of the one Sanic-CORS (``rasa run
--cors``) already writes, and browsers reject the doubled header. So the
socket.io route refuses foreign origins before engine.io sees the request,
and Sanic-CORS, given the same origins, stays the only one writing headers.

Rasa 3.6 also calls ``AsyncServer.enter_room`` without awaiting it; since
python-socketio 5.8 that is a coroutine, so with ``session_persistence`` the
socket never joins its session's room and never receives the bot's replies.

With several Rasa instances (``REDIS_URL`` set), a message Rasa sends
outside a patient's own request (a staff reply from the console, which may
land on any instance) must reach the instance holding that patient's
socket: socket.io's Redis manager carries it there. A reply to the
instance's own socket is emitted locally, without Redis, so a Redis outage
costs the widget nothing but those cross-instance messages.

And Rasa takes the conversation id from each ``user_uttered`` payload, so a
client could write into any conversation. Here the server issues the id
(``bot.channels.ids.WidgetIds``) in ``session_request``, keeps it in the
socket's server-side session, and ignores any id a message carries. A
widget coming back presents its id again and keeps its conversation only if
the id is one the server issued.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from bot.channels.floods import BUSY_REPLY, client_address, floods, with_client
from bot.channels.ids import WidgetIds
from bot.channels.incoming import incoming
from bot.channels.too_large import answer_too_large_as_json
from bot.conversation_ids import conversation_id

logger = logging.getLogger(__name__)


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Requests without an Origin header come from no browser page."""
    return origin is None or origin in allowed


class OriginCheckedBlueprint(SocketBlueprint):
    """Attaches the socket.io server behind an app-wide origin check."""

    def __init__(
        self,
        sio: AsyncServer,
        socketio_path: str,
        allowed_origins: Iterable[str],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(sio, socketio_path, *args, **kwargs)
        self.ctx.allowed_origins = frozenset(allowed_origins)
        self.ctx.prefix = "/" + socketio_path.strip("/")

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        # engine.io's route belongs to the app, not to this blueprint, so a
        # blueprint middleware would never see it.
        app.register_middleware(self.refuse_foreign_origin, "request")
        super().register(app, options)

    async def refuse_foreign_origin(self, request: Request) -> HTTPResponse | None:
        path = request.path.rstrip("/")
        if path != self.ctx.prefix and not path.startswith(self.ctx.prefix + "/"):
            return None
        origin = request.headers.get("origin")
        if origin_allowed(origin, self.ctx.allowed_origins):
            return None
        return response.json({"error": f"{origin} is not an allowed origin"}, 403)


def well_formed(data: Any, metadata_key: str) -> dict[str, Any]:
    """A ``user_uttered`` payload Rasa's handler can read: it calls ``.get``
    on the data and ``.strip()`` on the message, so a list, number or object
    there used to end in an exception and silence. Such a message becomes
    ``None``, which the cleaning step answers politely. The session id the
    client sent is dropped: the server's own goes in its place."""
    data = dict(data) if isinstance(data, dict) else {}
    if not isinstance(data.get("message"), str):
        data["message"] = None
    if not isinstance(data.get(metadata_key), dict):
        data.pop(metadata_key, None)
    data.pop("session_id", None)
    return data


class LocalFirstRedisManager(AsyncRedisManager):
    """socket.io's Redis manager, emitting to a room with a socket on this
    instance directly, and through Redis only otherwise."""

    async def emit(self, event, data, namespace=None, room=None, **kwargs):
        room = kwargs.pop("to", None) or room
        if room is not None and self.rooms.get(namespace or "/", {}).get(room):
            kwargs["ignore_queue"] = True
        try:
            return await super().emit(
                event, data, namespace=namespace, room=room, **kwargs
            )
        except Exception:  # noqa: BLE001 - one lost message, not a failed turn
            logger.exception("socket.io message to %s not delivered", room)


class ClinicSocketIOInput(SocketIOInput):
    """``socketio`` for browsers on the clinic's own sites only."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        channel = super().from_credentials(credentials)
        channel.allowed_origins = tuple(credentials.get("cors_allowed_origins") or ())
        channel.redis_url = credentials.get("redis_url")
        return channel

    def __init__(self, *args: Any, allowed_origins: Iterable[str] = (), **kwargs):
        from bot.settings import secret

        super().__init__(*args, **kwargs)
        self.allowed_origins = tuple(allowed_origins)
        self.redis_url: str | None = None
        self.widget_ids = WidgetIds(secret("WIDGET_SECRET"))

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """Rasa's socket.io handlers, attached through the origin check."""
        on_new_message = incoming(on_new_message, self.name())
        super().blueprint(on_new_message)
        if self.redis_url:
            self.sio.manager = LocalFirstRedisManager(
                self.redis_url, channel="clinic-socketio"
            )
            self.sio.manager.set_server(self.sio)
        self.sio.on("session_request", self.session_request, namespace=self.namespace)
        rasas = self.sio.handlers[self.namespace or "/"][self.user_message_evt]

        async def user_uttered(sid: str, data: Any) -> None:
            data = well_formed(data, self.metadata_key)
            data["session_id"] = await self.bound_id(sid)
            data[self.metadata_key] = with_client(
                data.get(self.metadata_key), self.address(sid)
            )
            conversation = conversation_id(self.name(), data["session_id"])
            with floods().admitted(conversation, self.address(sid)) as admitted:
                if admitted:
                    await rasas(sid, data)
                    return
            await self.sio.emit(
                self.bot_message_evt,
                {"text": BUSY_REPLY},
                room=sid,
                namespace=self.namespace,
            )

        self.sio.on(self.user_message_evt, user_uttered, namespace=self.namespace)
        blueprint = OriginCheckedBlueprint(
            self.sio,
            self.socketio_path,
            self.allowed_origins,
            "socketio_webhook",
            __name__,
        )

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        answer_too_large_as_json(blueprint)
        return blueprint

    async def session_request(self, sid: str, data: Any) -> None:
        """Bind the socket to its conversation: the id the widget kept, if
        this server issued it, else a new one."""
        kept = data.get("session_id") if isinstance(data, dict) else None
        session_id = kept if self.widget_ids.issued(kept) else self.widget_ids.issue()
        await self.bind(sid, session_id)

    async def bind(self, sid: str, session_id: str) -> None:
        await self.sio.save_session(
            sid, {"conversation": session_id}, namespace=self.namespace
        )
        await self.sio.enter_room(sid, session_id, namespace=self.namespace)
        await self.sio.emit(
            "session_confirm", session_id, room=sid, namespace=self.namespace
        )

    def address(self, sid: str) -> str:
        """The client address of the socket's first request (engine.io keeps
        the Sanic request that opened it)."""
        environ = self.sio.get_environ(sid, namespace=self.namespace) or {}
        request = environ.get("sanic.request")
        return client_address(request) if request is not None else "unknown"

    async def bound_id(self, sid: str) -> str:
        """The socket's conversation id; a socket that sends before asking
        for a session gets one now, and is told it."""
        session = await self.sio.get_session(sid, namespace=self.namespace)
        if not session.get("conversation"):
            await self.bind(sid, self.widget_ids.issue())
            session = await self.sio.get_session(sid, namespace=self.namespace)
        return session["conversation"]
