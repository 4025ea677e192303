"""Facebook Messenger: signed webhooks in, the Graph Send API out.

Rasa's Facebook connector checks only the SHA-1 ``X-Hub-Signature`` (with a
plain comparison, answering 200 when it fails), handles just the first
event of a batch and sends through a synchronous client fixed to
graph.facebook.com; this module replaces those parts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.facebook import FacebookInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels._http import ProviderError, post
from bot.channels._incoming import pass_on
from bot.channels._signatures import same_secret, valid_hub_signature
from bot.channels._text import shorten, split_text
from bot.channels.floods import floods, too_many
from bot.channels.incoming import incoming
from bot.channels.replays import first_delivery
from bot.conversation_ids import conversation_id

logger = logging.getLogger(__name__)

TEXT_LIMIT = 2000
QUICK_REPLY_LIMIT = 13
QUICK_REPLY_TITLE_LIMIT = 20


def quick_replies(buttons: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Messenger's native quick replies; tapping one sends back the payload."""
    return [
        {
            "content_type": "text",
            "title": shorten(str(b.get("title", "")), QUICK_REPLY_TITLE_LIMIT),
            "payload": str(b.get("payload") or b.get("title", "")),
        }
        for b in buttons[:QUICK_REPLY_LIMIT]
    ]


def incoming_text(event: dict[str, Any]) -> str | None:
    """What the user said or chose in one ``messaging`` event, if anything."""
    message = event.get("message")
    message = message if isinstance(message, dict) else {}
    if message.get("is_echo"):
        return None
    quick_reply = message.get("quick_reply")
    quick_reply = quick_reply.get("payload") if isinstance(quick_reply, dict) else None
    if quick_reply:
        return quick_reply
    if message.get("text"):
        return message["text"]
    postback = event.get("postback")
    return postback.get("payload") if isinstance(postback, dict) else None


class MessengerOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return "facebook"

    def __init__(self, page_access_token: str, api_url: str) -> None:
        self.page_access_token = page_access_token
        self.api_url = api_url.rstrip("/")

    async def _send(self, recipient_id: str, message: dict[str, Any]) -> None:
        try:
            await post(
                f"{self.api_url}/me/messages",
                params={"access_token": self.page_access_token},
                json_body={
                    "recipient": {"id": recipient_id},
                    "messaging_type": "RESPONSE",
                    "message": message,
                },
            )
        except ProviderError as error:
            logger.error("Messenger message to %s not sent: %s", recipient_id, error)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        for piece in split_text(text, TEXT_LIMIT):
            await self._send(recipient_id, {"text": piece})

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        """Quick replies ride on the last piece of a long text."""
        *first, last = split_text(text, TEXT_LIMIT) or [""]
        for piece in first:
            await self._send(recipient_id, {"text": piece})
        await self._send(
            recipient_id, {"text": last, "quick_replies": quick_replies(buttons)}
        )

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> None:
        await self._send(
            recipient_id,
            {"attachment": {"type": "image", "payload": {"url": image}}},
        )


def _list_of_dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def message_id(event: dict) -> str | None:
    """Meta's id of a message or postback (``mid``), the same on redelivery."""
    for part in ("message", "postback"):
        value = event.get(part)
        if isinstance(value, dict) and isinstance(value.get("mid"), str):
            return value["mid"]
    return None


def messaging_events(payload: dict) -> list[dict]:
    """The messaging events of a webhook body; parts of the wrong shape (an
    ``entry`` that is an object or a string) are skipped, not a 500."""
    return [
        event
        for entry in _list_of_dicts(payload.get("entry"))
        for event in _list_of_dicts(entry.get("messaging"))
    ]


class MessengerInput(FacebookInput):
    """``/webhooks/facebook/webhook``: GET for Meta's subscription check,
    POST for messages, answered only when signed with the app secret."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        return cls(
            credentials["verify_token"],
            credentials["app_secret"],
            credentials["page_access_token"],
            credentials["api_url"],
        )

    def __init__(
        self, verify_token: str, app_secret: str, page_access_token: str, api_url: str
    ) -> None:
        super().__init__(verify_token, app_secret, page_access_token)
        self.api_url = api_url

    def get_output_channel(self) -> MessengerOutput:
        return MessengerOutput(self.fb_access_token, self.api_url)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        on_new_message = incoming(on_new_message, self.name())
        webhook = Blueprint("messenger_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if request.args.get("hub.mode") == "subscribe" and same_secret(
                self.fb_verify, request.args.get("hub.verify_token")
            ):
                return response.text(request.args.get("hub.challenge", ""))
            logger.warning("Rejected a Messenger subscription check: wrong token")
            return response.text("invalid verify token", status=403)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not valid_hub_signature(
                self.fb_secret,
                request.body,
                request.headers.get("X-Hub-Signature-256"),
            ):
                logger.warning("Rejected a Messenger webhook with a bad signature")
                return response.text("invalid signature", status=403)
            try:
                payload = json.loads(request.body)
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                return response.text("invalid JSON", status=400)
            refused = False
            for event in messaging_events(payload):
                sender = event.get("sender")
                sender = sender.get("id") if isinstance(sender, dict) else None
                conversation = conversation_id(self.name(), str(sender))
                with floods().admitted(conversation) as admitted:
                    if admitted:
                        await self.handle(on_new_message, event, sender, request)
                    refused = refused or not admitted
            # Meta delivers the whole batch again; what was handled is then
            # skipped as a replay.
            return too_many() if refused else response.text("EVENT_RECEIVED")

        return webhook

    async def handle(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        event: dict[str, Any],
        sender: Any,
        request: Request,
    ) -> None:
        if not await first_delivery("messenger", message_id(event)):
            logger.info("Messenger event delivered again: ignored")
            return
        text = incoming_text(event)
        if sender and text:
            await pass_on(self, on_new_message, text, sender, request)
