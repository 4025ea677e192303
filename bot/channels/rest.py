"""Rasa's REST channel with the request checked and the text cleaned first.

Rasa 3.6 reads ``request.json`` without checking it: a JSON list as the body
ends in a 500, a missing sender puts everyone in one ``default`` conversation,
other wrong types fail inside the handler or reach the conversation, a
sender longer than the SQL tracker store's 255-character column is stored by
SQLite but refused by PostgreSQL, and the client names the input channel
Rasa records for the conversation. Here a request middleware checks the body
before anything reaches a conversation and answers a bad one with 400 and
``{"error": "..."}``. Rasa's own handler (``?stream=true``, its error
handling) then runs unchanged on the checked and cleaned values.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import rasa.utils.endpoints
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels._signatures import MISSING, bearer_matches
from bot.channels.floods import client_address, floods, too_many, with_client
from bot.channels.incoming import (
    EMPTY_REPLY,
    clean_text,
    has_invisible,
    incoming,
)
from bot.channels.too_large import answer_too_large_as_json
from bot.conversation_ids import conversation_id
from bot.rasa.version import check_version

logger = logging.getLogger(__name__)

# The SQL tracker store's sender_id column holds 255 characters, and the
# sender becomes ``rest:<sender>`` (bot/channels/ids.py).
MAX_SENDER = 255 - len("rest:")
MAX_INPUT_CHANNEL = 40


class BadRequest(ValueError):
    """A request the channel refuses with 400; the message is safe to show."""


@dataclass(frozen=True)
class RestPayload:
    sender: str
    text: str
    metadata: dict | None = None


def parse_body(body: bytes) -> Any:
    """The decoded JSON; Sanic's own error for bad JSON is not our format."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise BadRequest("body must be valid JSON") from error


def check_sender(value: Any) -> str:
    """Refused, never cleaned or truncated: two senders must never merge."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("sender must be a non-empty string")
    if len(value) > MAX_SENDER:
        raise BadRequest(f"sender must be at most {MAX_SENDER} characters")
    if has_invisible(value):
        raise BadRequest("sender must not contain control characters")
    return value


def check_message(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("message must be a string")
    return value


def check_metadata(value: Any) -> dict | None:
    """An object (or null, the same as absent) that can be stored as UTF-8."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest("metadata must be an object")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf8")
    except UnicodeEncodeError as error:
        raise BadRequest("metadata must be valid Unicode") from error
    return value


def check_input_channel(value: Any) -> str | None:
    """Checked so a malformed request is told so, and then ignored: the
    channel is the route the message came in on, never what the client
    says (a REST client naming "socketio" or "whatsapp" must not have staff
    replies sent out on those channels)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("input_channel must be a string")
    if len(value) > MAX_INPUT_CHANNEL or has_invisible(value):
        raise BadRequest(
            f"input_channel must be at most {MAX_INPUT_CHANNEL} printable characters"
        )
    return value


def check_payload(data: Any) -> RestPayload:
    """The request's fields, type-checked; the text is not cleaned yet."""
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    check_input_channel(data.get("input_channel"))
    return RestPayload(
        sender=check_sender(data.get("sender")),
        text=check_message(data.get("message")),
        metadata=check_metadata(data.get("metadata")),
    )


def read_request(body: bytes) -> RestPayload:
    """The checked request with its text ready for NLU (maybe empty)."""
    payload = check_payload(parse_body(body))
    return RestPayload(payload.sender, clean_text(payload.text), payload.metadata)


def empty_reply(sender: str, stream: bool) -> HTTPResponse:
    """Asked to type something; the conversation never sees the request, so
    nothing is stored for it."""
    message = {"recipient_id": sender, "text": EMPTY_REPLY}
    if stream:
        return response.text(
            json.dumps(message) + "\n", content_type="text/event-stream"
        )
    return response.json([message])


class ClinicRestInput(RestInput):
    """``rest`` at ``/webhooks/rest/webhook``, refusing malformed requests;
    with ``REST_ACCESS=token`` only for callers sending the API token as
    ``Authorization: Bearer <token>``."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> ClinicRestInput:
        return cls(require_token=bool((credentials or {}).get("require_token")))

    def __init__(self, require_token: bool = False) -> None:
        # It overrides RestInput's private _extract_* methods.
        check_version()
        super().__init__()
        self.require_token = require_token

    def authorised(self, request: Request) -> bool:
        from bot.settings import secret

        token = secret("RASA_API_TOKEN")
        given = request.headers.get("authorization")
        return bool(token) and bearer_matches(given, token)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        on_new_message = incoming(on_new_message, self.name())
        blueprint = super().blueprint(on_new_message)
        # The decorator form: Sanic 21.12's blueprint silently drops a bound
        # method passed as ``middleware(handler, "request")``.
        blueprint.middleware("request")(self.check_request)
        blueprint.middleware("response")(self.release)
        answer_too_large_as_json(blueprint)
        return blueprint

    async def check_request(self, request: Request) -> HTTPResponse | None:
        """Runs before the webhook handler; a response here ends the request."""
        if request.method != "POST":
            return None
        if self.require_token and not self.authorised(request):
            return response.json({"error": MISSING}, status=401)
        try:
            payload = read_request(request.body)
        except BadRequest as error:
            logger.info("rest request refused: %s", error)
            return response.json({"error": str(error)}, status=400)
        if not payload.text:
            stream = rasa.utils.endpoints.bool_arg(request, "stream", default=False)
            return empty_reply(payload.sender, stream)
        ticket = floods().enter(
            conversation_id(self.name(), payload.sender), client_address(request)
        )
        if ticket is None:
            return too_many()
        request.ctx.flood_ticket = ticket
        request.ctx.rest_payload = payload
        return None

    async def release(self, request: Request, _: HTTPResponse) -> None:
        floods().leave(getattr(request.ctx, "flood_ticket", None))

    async def _extract_sender(self, req: Request) -> str:
        return req.ctx.rest_payload.sender

    def _extract_message(self, req: Request) -> str:
        return req.ctx.rest_payload.text

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()

    def get_metadata(self, request: Request) -> dict | None:
        return with_client(request.ctx.rest_payload.metadata, client_address(request))
