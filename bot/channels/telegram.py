"""Telegram: webhooks checked against the secret token, replies through a
Bot API server whose address is configurable.

Rasa's connector trusts any POST (it only asks Telegram who the bot is, on
every message), registers the webhook without a secret token on a
throw-away event loop while the app is being built, and always talks to
api.telegram.org.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.telegram import TelegramInput, TelegramOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels._incoming import pass_on
from bot.channels._signatures import same_secret
from bot.channels._text import split_text
from bot.channels.floods import floods, too_many
from bot.channels.incoming import incoming as hand_to_rasa
from bot.channels.replays import first_delivery
from bot.conversation_ids import conversation_id

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SEND_ERRORS = (TelegramAPIError, aiohttp.ClientError, TimeoutError)


def keyboard(
    buttons: list[dict[str, Any]],
) -> InlineKeyboardMarkup | ReplyKeyboardMarkup:
    """One inline button per row, whose tap sends back the payload.

    Telegram refuses callback data over 64 bytes; then the options become a
    reply keyboard and their titles go to NLU like typed text.
    """
    titles = [str(b.get("title", "")) for b in buttons]
    payloads = [str(b.get("payload") or b.get("title", "")) for b in buttons]
    if all(len(p.encode()) <= CALLBACK_DATA_LIMIT for p in payloads):
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(t, callback_data=p)]
                for t, p in zip(titles, payloads, strict=True)
            ]
        )
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(t)] for t in titles],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def incoming(update: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """``(chat id, text, callback query id)`` of an update, if it has text.

    A tapped inline button stands for its payload; Telegram's ``/start``
    (sent when someone opens the bot) is a greeting. Edits are ignored so a
    corrected typo is not answered twice.
    """
    callback = update.get("callback_query")
    if callback:
        chat = ((callback.get("message") or {}).get("chat") or {}).get("id")
        chat = chat or (callback.get("from") or {}).get("id")
        data = callback.get("data")
        return (str(chat), data, callback.get("id")) if chat and data else None
    message = update.get("message") or {}
    if not isinstance(message, dict):
        return None
    chat = (message.get("chat") or {}).get("id")
    text = message.get("text")
    # Telegram sends text as a string; anything else is read as its text.
    text = (text if isinstance(text, str) else str(text or "")).strip()
    if not chat or not text:
        return None
    if text.split()[0].split("@")[0] == "/start":
        text = "/greet"
    return str(chat), text, None


class TelegramBot(TelegramOutput):
    """Rasa's Telegram output (an aiogram ``Bot``) on a chosen API server."""

    def __init__(self, access_token: str, api_url: str) -> None:
        Bot.__init__(self, access_token, server=TelegramAPIServer.from_base(api_url))

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """A refused message is logged: raising would lose the whole turn,
        because Rasa saves the conversation only after sending."""
        try:
            await super().send_response(recipient_id, message)
        except SEND_ERRORS as error:
            logger.error("Telegram message to %s not sent: %s", recipient_id, error)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        for piece in split_text(text, TEXT_LIMIT):
            await self.send_message(recipient_id, piece)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        button_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        """The keyboard rides on the last piece of a long text."""
        *first, last = split_text(text, TEXT_LIMIT) or [""]
        for piece in first:
            await self.send_message(recipient_id, piece)
        await self.send_message(recipient_id, last, reply_markup=keyboard(buttons))

    async def register_webhook(self, url: str, secret_token: str) -> None:
        """Tell Telegram where to post updates and which secret to send."""
        await self.request(
            "setWebhook",
            {
                "url": url,
                "secret_token": secret_token,
                "allowed_updates": json.dumps(["message", "callback_query"]),
            },
        )

    async def close_session(self) -> None:
        if self._session is not None:
            await self._session.close()


class TelegramWebhookInput(TelegramInput):
    """``POST /webhooks/telegram/webhook``, answered only with our secret."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        return cls(
            credentials["access_token"],
            credentials["bot_name"],
            credentials["webhook_url"],
            credentials["secret_token"],
            credentials["api_url"],
        )

    def __init__(
        self,
        access_token: str,
        bot_name: str,
        webhook_url: str,
        secret_token: str,
        api_url: str,
    ) -> None:
        super().__init__(access_token, bot_name, webhook_url, debug_mode=False)
        self.secret_token = secret_token
        self.api_url = api_url
        self._bot: TelegramBot | None = None

    def get_output_channel(self) -> TelegramBot:
        """One bot (one HTTP session) for the whole server; building it
        makes no network call."""
        if self._bot is None:
            self._bot = TelegramBot(self.access_token, self.api_url)
        return self._bot

    async def register(self) -> None:
        """Set the webhook once the server runs. A failure is logged rather
        than fatal, so the other channels keep working."""
        bot = self.get_output_channel()
        try:
            await bot.register_webhook(self.webhook_url, self.secret_token)
            me = await bot.get_me()
        except SEND_ERRORS as error:
            logger.error("Telegram webhook not registered: %s", error)
            return
        if (me.username or "").casefold() != self.verify.lstrip("@").casefold():
            logger.warning(
                "TELEGRAM_BOT_NAME is %r but the token belongs to %r",
                self.verify,
                me.username,
            )

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        on_new_message = hand_to_rasa(on_new_message, self.name())
        webhook = Blueprint("telegram_webhook", __name__)

        @webhook.listener("after_server_start")
        async def register(*_: Any) -> None:
            await self.register()

        @webhook.listener("before_server_stop")
        async def close(*_: Any) -> None:
            await self.get_output_channel().close_session()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not same_secret(self.secret_token, request.headers.get(SECRET_HEADER)):
                logger.warning("Rejected a Telegram webhook without our secret token")
                return response.text("invalid secret token", status=403)
            update = request.json if isinstance(request.json, dict) else {}
            message = incoming(update)
            chat = message[0] if message else "none"
            with floods().admitted(conversation_id(self.name(), chat)) as admitted:
                if not admitted:
                    return too_many()
                if not await first_delivery("telegram", update.get("update_id")):
                    logger.info("Telegram update delivered again: ignored")
                elif message:
                    await self._handle(on_new_message, *message, request)
            return response.text("success")

        return webhook

    async def _handle(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        chat_id: str,
        text: str,
        callback_query_id: str | None,
        request: Request,
    ) -> None:
        """Errors are logged, and Telegram still gets its 200: otherwise it
        redelivers the same update again and again."""
        bot = self.get_output_channel()
        try:
            if callback_query_id:
                await bot.answer_callback_query(callback_query_id)
        except SEND_ERRORS as error:
            logger.warning("Telegram button tap not acknowledged: %s", error)
        await pass_on(self, on_new_message, text, chat_id, request, output=bot)
