"""A small async client for the messaging providers' HTTP APIs.

Twilio's and Meta's SDKs are synchronous and hard-code their addresses; a
plain aiohttp call keeps the event loop free and can be pointed at a
stand-in in tests.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=20)


class ProviderError(Exception):
    """The provider refused a call or could not be reached."""


async def post(
    url: str,
    *,
    json_body: dict | None = None,
    form: dict | None = None,
    params: dict | None = None,
    auth: aiohttp.BasicAuth | None = None,
) -> Any:
    """POST and return the decoded JSON answer.

    Errors never include ``params`` or ``auth``: they hold access tokens.
    """
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            async with session.post(
                url, json=json_body, data=form, params=params, auth=auth
            ) as response:
                body = await response.text()
                if response.status >= 400:
                    raise ProviderError(f"HTTP {response.status}: {body[:300]}")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise ProviderError(f"{type(error).__name__}: {error}") from error
    try:
        return json.loads(body) if body else None
    except ValueError as error:
        raise ProviderError(f"not JSON: {body[:300]}") from error
