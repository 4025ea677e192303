"""Secrets come from the environment or a file, and travel in headers."""

from __future__ import annotations

import pytest

from bot.ops.serve import (
    action_server_command,
    action_server_environment,
    environment,
    with_action_token,
)
from bot.rasa.endpoints import build_endpoints
from bot.settings import load_settings, secret


def test_a_secret_from_the_environment_or_a_file(monkeypatch, tmp_path):
    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    monkeypatch.delenv("ACTION_SERVER_TOKEN_FILE", raising=False)
    assert secret("ACTION_SERVER_TOKEN") is None
    path = tmp_path / "token"
    path.write_text("from-a-file\n")
    monkeypatch.setenv("ACTION_SERVER_TOKEN_FILE", str(path))
    assert secret("ACTION_SERVER_TOKEN") == "from-a-file"
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "from-the-env")
    assert secret("ACTION_SERVER_TOKEN") == "from-the-env"


def test_an_unreadable_secret_file_stops_start_up(monkeypatch, tmp_path):
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    monkeypatch.setenv("RASA_API_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(SystemExit, match="RASA_API_TOKEN_FILE"):
        load_settings()


def test_the_action_secret_goes_in_a_header_never_on_a_command_line(monkeypatch):
    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    monkeypatch.delenv("ACTION_SERVER_TOKEN_FILE", raising=False)
    settings = with_action_token(load_settings())
    token = settings.action_token
    assert token and len(token) >= 32
    endpoint = build_endpoints(settings)["action_endpoint"]
    assert endpoint["headers"] == {"Authorization": f"Bearer {token}"}
    assert token not in " ".join(action_server_command(settings))
    env = action_server_environment(environment(settings), settings)
    assert env["ACTION_SERVER_TOKEN"] == token
    assert env["SANIC_HOST"] == "127.0.0.1"


def test_each_run_without_a_configured_secret_gets_its_own(monkeypatch):
    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    monkeypatch.delenv("ACTION_SERVER_TOKEN_FILE", raising=False)
    first = with_action_token(load_settings()).action_token
    assert first != with_action_token(load_settings()).action_token
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "configured")
    assert with_action_token(load_settings()).action_token == "configured"


def test_the_api_token_reaches_rasa_in_process_not_on_its_command_line(
    monkeypatch,
):
    from bot.ops.serve import rasa_server_command
    from bot.rasa.server import with_auth_token

    monkeypatch.setenv("RASA_API_TOKEN", "-starts-with-a-dash")
    settings = load_settings()
    command = rasa_server_command(settings, settings.tracker_db.parent, 5005)
    assert not any("auth-token" in part or "dash" in part for part in command)
    argv = with_auth_token(command[2:])
    assert argv[-1] == "--auth-token=-starts-with-a-dash"
    assert with_auth_token(argv) == argv  # given once
