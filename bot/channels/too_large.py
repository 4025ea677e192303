"""An over-size request gets a clear JSON answer, not Sanic's HTML page.

Rasa's server takes bodies up to 64 KB (``SANIC_REQUEST_MAX_SIZE``); no chat
message needs more, and text beyond 2,000 characters is cut anyway. Sanic
refuses a larger body before any route runs, so the handler is the app's.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge

TOO_LARGE = (
    "request too large: send at most {limit} KB; "
    "a message is read up to its first 2,000 characters"
)


def too_large(request: Any, exception: Exception) -> response.HTTPResponse:
    limit = request.app.config.REQUEST_MAX_SIZE // 1024 if request else 64
    return response.json({"error": TOO_LARGE.format(limit=limit)}, status=413)


def answer_too_large_as_json(blueprint: Blueprint) -> None:
    """Register the app-wide handler when ``blueprint``'s app starts."""

    @blueprint.listener("before_server_start")
    async def register(app: Any, *_: Any) -> None:
        if not getattr(app.ctx, "too_large_as_json", False):
            app.error_handler.add(PayloadTooLarge, too_large)
            app.ctx.too_large_as_json = True
