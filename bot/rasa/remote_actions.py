"""Rasa's call of a custom action on the action server (patches,
bot/rasa/extensions.py): the request, the HTTP session and the check of the
response. The profile behind each is in docs/production.md ("Profiling and
speed-ups").

- Rasa 3.6 checks every action server response with ``jsonschema.validate``,
  which re-validates the schema itself on each call: about 60 % of the
  server's CPU time per message. Here the validator is built once and the
  same responses are accepted and rejected as before; the last 2048 valid
  responses are remembered (checking still cost 5 %).
- The action server is sent the whole session with every call (over 300 KB
  at turn 100). It now gets the events of the last 20 user messages and
  what followed them, with the slots, latest message and active loop as
  before: the actions read no further back (the handoff transcript shows the
  last 40 messages). Rasa's own ``enable_selective_domain`` (endpoints.yml)
  keeps the domain to the form validation actions that use it.
- Each call to the action server opened a new HTTP session and connection:
  5 %. One keep-alive session per endpoint and event loop is reused, closing
  idle connections before the action server's own keep-alive timeout (5 s)
  so a request never goes out on a connection the server is closing.

The deadline and the apology around the call are bot/rasa/resilience.py's,
giving the message's place up meanwhile bot/rasa/admission.py's.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import weakref
from collections import OrderedDict
from functools import cache
from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import validator_for

from bot.rasa import extensions

VALID_RESULTS_KEPT = 2048
_valid_results: OrderedDict[str, bool] = OrderedDict()
# Whole user turns of events sent to the action server (see above).
ACTION_EVENT_TURNS = 20
IDLE_CONNECTION_SECONDS = 2.0
_sessions: dict[tuple[int, int], Any] = {}


@cache
def _action_result_validator():
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self, result: dict) -> bool:
    """Rasa's check of an action server response; a response already found
    valid (most are the same few: "no events", the disclaimer, a form's
    next question) is recognised by its JSON instead of checked again."""
    key = json.dumps(result, sort_keys=True, default=repr)
    if key in _valid_results:
        _valid_results.move_to_end(key)
        return True
    try:
        _action_result_validator().validate(result)
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure "
            "your response from the Action endpoint is valid."
        )
        raise
    _valid_results[key] = True
    if len(_valid_results) > VALID_RESULTS_KEPT:
        _valid_results.popitem(last=False)
    return True


def action_call_format(self, tracker, domain) -> dict:
    """RemoteAction's request body with the events of the last
    ACTION_EVENT_TURNS user messages only (see above)."""
    from rasa.shared.core.events import UserUttered

    events = tracker.events
    users = [i for i, e in enumerate(events) if isinstance(e, UserUttered)]
    start = users[-ACTION_EVENT_TURNS] if len(users) > ACTION_EVENT_TURNS else 0
    rasa_format = extensions.original("bot.rasa.remote_actions:action_call_format")
    if start == 0:
        return rasa_format(self, tracker, domain)
    window = copy.copy(tracker)
    window.events = list(itertools.islice(events, start, None))
    return rasa_format(self, window, domain)


def endpoint_session(self):
    """``EndpointConfig.session``: a kept-alive session for this endpoint in
    the running event loop."""
    import aiohttp

    loop = asyncio.get_running_loop()
    key = (id(self), id(loop))
    # The loop is kept in the value so its id cannot be reused by a new loop;
    # the entry goes when the endpoint object does.
    _, session = _sessions.get(key, (None, None))
    if session is None or session.closed:
        auth = None
        if self.basic_auth:
            auth = aiohttp.BasicAuth(
                self.basic_auth["username"], self.basic_auth["password"]
            )
        from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_CONNECTION_SECONDS),
        )
        _sessions[key] = (loop, session)
        weakref.finalize(self, _forget_session, key)
    return _SharedSession(session)


def _forget_session(key) -> None:
    loop, session = _sessions.pop(key, (None, None))
    if session is not None and not session.closed and not loop.is_closed():
        loop.call_soon_threadsafe(lambda: loop.create_task(session.close()))


class _SharedSession:
    """``async with`` on a shared session that must stay open afterwards."""

    def __init__(self, session) -> None:
        self.session = session

    async def __aenter__(self):
        return self.session

    async def __aexit__(self, *exc_info) -> None:
        return None
