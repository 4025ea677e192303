"""WhatsApp through Twilio: signed webhooks in, Twilio's Messages API out.

Rasa's Twilio connector checks no signature, sends through Twilio's
synchronous client (which blocks the event loop and cannot be pointed
elsewhere) and drops buttons, so both directions are replaced here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.twilio import TwilioInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels._buttons import last_buttons, numbered_list, resolve_reply
from bot.channels._http import ProviderError, post
from bot.channels._incoming import pass_on
from bot.channels._signatures import twilio_params, valid_twilio_signature
from bot.channels._text import split_text
from bot.channels.floods import floods, too_many
from bot.channels.incoming import incoming
from bot.channels.replays import first_delivery
from bot.conversation_ids import conversation_id

logger = logging.getLogger(__name__)

BODY_LIMIT = 1600
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def phone_number(address: str) -> str:
    """The number of a Twilio ``whatsapp:+61...`` address: the conversation
    id puts it in the ``whatsapp:`` namespace again (``bot.channels.ids``)."""
    address = address.strip()
    return address.removeprefix("whatsapp:")


def whatsapp_address(number: str) -> str:
    """Twilio tells WhatsApp from SMS by the ``whatsapp:`` prefix."""
    number = number.strip()
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


class WhatsAppOutput(OutputChannel):
    """Sends each bot message as one WhatsApp message (split only when it is
    longer than Twilio allows), buttons as a numbered list in the body."""

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    def __init__(
        self, account_sid: str, auth_token: str, whatsapp_number: str, api_url: str
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = whatsapp_address(whatsapp_number)
        self.api_url = api_url.rstrip("/")

    @property
    def messages_url(self) -> str:
        return f"{self.api_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    async def _send(self, recipient_id: str, **content: str) -> None:
        """``content`` is ``Body`` and/or ``MediaUrl``, as Twilio names them."""
        try:
            await post(
                self.messages_url,
                form={
                    "From": self.sender,
                    "To": whatsapp_address(recipient_id),
                    **content,
                },
                auth=aiohttp.BasicAuth(self.account_sid, self.auth_token),
            )
        except ProviderError as error:
            logger.error("WhatsApp message to %s not sent: %s", recipient_id, error)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        for piece in split_text(text, BODY_LIMIT):
            await self._send(recipient_id, Body=piece)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await self.send_text_message(
            recipient_id, f"{text.strip()}\n\n{numbered_list(buttons)}"
        )

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> None:
        await self._send(recipient_id, MediaUrl=image)


class WhatsAppInput(TwilioInput):
    """``POST /webhooks/whatsapp/webhook``, answered only when Twilio signed it."""

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        return cls(
            credentials["account_sid"],
            credentials["auth_token"],
            credentials["whatsapp_number"],
            credentials["webhook_url"],
            credentials["api_url"],
        )

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        whatsapp_number: str,
        webhook_url: str,
        api_url: str,
    ) -> None:
        super().__init__(account_sid, auth_token, whatsapp_number, debug_mode=False)
        self.webhook_url = webhook_url
        self.api_url = api_url

    def get_output_channel(self) -> WhatsAppOutput:
        return WhatsAppOutput(
            self.account_sid, self.auth_token, self.twilio_number, self.api_url
        )

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        on_new_message = incoming(on_new_message, self.name())
        webhook = Blueprint("whatsapp_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            params = twilio_params(request.body)
            if not valid_twilio_signature(
                self.auth_token,
                self.webhook_url,
                params,
                request.headers.get("X-Twilio-Signature"),
            ):
                logger.warning("Rejected a WhatsApp webhook with a bad signature")
                return response.text("invalid signature", status=403)
            number = phone_number(params.get("From") or "")
            conversation = conversation_id(self.name(), number)
            with floods().admitted(conversation) as admitted:
                if not admitted:
                    return too_many()
                await self.handle(on_new_message, params, number, request)
            return response.text(EMPTY_TWIML, content_type="text/xml")

        return webhook

    async def handle(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        params: dict[str, str],
        number: str,
        request: Request,
    ) -> None:
        """One signed message: handled once, a tapped number read as its
        button."""
        text = params.get("Body")
        message_id = params.get("MessageSid") or params.get("SmsMessageSid")
        if not await first_delivery("twilio", message_id):
            logger.info("WhatsApp message %s delivered again: ignored", message_id)
            return
        if number and text and text.strip():
            buttons = await last_buttons(
                request.app.ctx.agent, conversation_id(self.name(), number)
            )
            await pass_on(
                self, on_new_message, resolve_reply(text, buttons), number, request
            )
