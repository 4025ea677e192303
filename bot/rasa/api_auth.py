"""Rasa's HTTP API token in the ``Authorization`` header, never in a URL.

Rasa 3.6 reads its plain API token only from ``?token=`` in the URL, where it
ends up in access logs, proxy logs and browser history. Its routes are
guarded by ``rasa.server.requires_auth`` when ``create_app`` builds them;
here that guard is replaced, before the app is built, by one that takes the
token as ``Authorization: Bearer <token>`` (compared in constant time) and
refuses a request that carries ``?token=`` with 401 and a note saying
where the token goes. Without a token the API stays as Rasa leaves it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from inspect import isawaitable
from typing import Any

from bot.channels._signatures import MISSING, bearer_matches
from bot.rasa import extensions

QUERY_REFUSED = (
    "the API token does not go in the URL; send 'Authorization: Bearer <token>'"
)


def requires_auth(app: Any, token: str | None = None) -> Callable:
    """``rasa.server.requires_auth`` with the token read from the header."""
    if token is None:
        return extensions.original("bot.rasa.api_auth:requires_auth")(app, token)

    from rasa.server import ErrorResponse

    def decorator(handler: Callable) -> Callable:
        @wraps(handler)
        async def decorated(request: Any, *args: Any, **kwargs: Any) -> Any:
            if "token" in request.args:
                raise ErrorResponse(401, "NotAuthenticated", QUERY_REFUSED)
            if not bearer_matches(request.headers.get("authorization"), token):
                raise ErrorResponse(401, "NotAuthenticated", MISSING)
            result = handler(request, *args, **kwargs)
            return await result if isawaitable(result) else result

        return decorated

    return decorator
