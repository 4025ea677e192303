"""The action server trusts nobody: every call but the health check needs
the secret Rasa sends (``Authorization: Bearer <ACTION_SERVER_TOKEN>``).

Without it anyone who could reach the port could run any action with a
made-up conversation, e.g. store a booking no form ever checked. With no
secret configured the server refuses every call (it is started with one by
``bot serve`` and ``bot cluster``).
"""

from __future__ import annotations

import hmac
import logging
from functools import cache

from sanic import response
from sanic.request import Request

logger = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/health"})


@cache
def expected_header() -> str | None:
    from bot.settings import secret

    token = secret("ACTION_SERVER_TOKEN")
    if not token:
        logger.error("ACTION_SERVER_TOKEN is not set: refusing every action call")
        return None
    return f"Bearer {token}"


def authorised(header: str | None) -> bool:
    expected = expected_header()
    return bool(
        expected
        and header
        and hmac.compare_digest(header.encode("utf8"), expected.encode("utf8"))
    )


async def require_token(request: Request):
    """Sanic request middleware: 401 before any action code runs."""
    if request.path in OPEN_PATHS:
        return None
    if not authorised(request.headers.get("authorization")):
        return response.json({"error": "unauthorised"}, status=401)
    return None
