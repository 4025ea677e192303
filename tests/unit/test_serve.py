"""The processes' environments: public endpoints keep a small body cap, the
action server (internal) takes a whole long conversation."""

from __future__ import annotations

from bot.ops.serve import (
    ACTION_REQUEST_MAX_SIZE,
    action_server_environment,
    environment,
)
from bot.settings import PUBLIC_REQUEST_MAX_SIZE, load_settings


def test_public_processes_keep_the_small_body_cap(monkeypatch):
    monkeypatch.delenv("SANIC_REQUEST_MAX_SIZE", raising=False)
    env = environment(load_settings())
    assert int(env["SANIC_REQUEST_MAX_SIZE"]) == PUBLIC_REQUEST_MAX_SIZE == 65536


def test_the_action_server_takes_a_long_conversation(monkeypatch):
    monkeypatch.delenv("SANIC_REQUEST_MAX_SIZE", raising=False)
    env = action_server_environment(environment(load_settings()))
    # A 100-turn session with the domain is a few hundred KB.
    assert int(env["SANIC_REQUEST_MAX_SIZE"]) == ACTION_REQUEST_MAX_SIZE
    assert ACTION_REQUEST_MAX_SIZE >= 16 * 1024 * 1024
