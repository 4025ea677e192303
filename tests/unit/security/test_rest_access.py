"""REST is for integrations: open for the local demo, token-only or off in
production (``REST_ACCESS``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.channels.credentials import build_credentials
from bot.channels.rest import ClinicRestInput
from bot.settings import load_settings

REST = "bot.channels.rest.ClinicRestInput"
BODY = b'{"sender": "integration-1", "message": "does it hurt?"}'


def request(headers: dict) -> SimpleNamespace:
    return SimpleNamespace(
        method="POST",
        body=BODY,
        headers=headers,
        ctx=SimpleNamespace(),
        args={},
        remote_addr="",
        ip="127.0.0.1",
    )


@pytest.mark.parametrize(
    ("access", "expected"),
    [("open", {"require_token": False}), ("token", {"require_token": True})],
)
def test_the_credentials_follow_rest_access(monkeypatch, access, expected):
    monkeypatch.setenv("REST_ACCESS", access)
    assert build_credentials(load_settings())[REST] == expected


def test_rest_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("REST_ACCESS", "off")
    credentials = build_credentials(load_settings())
    assert REST not in credentials
    assert "bot.channels.socketio.ClinicSocketIOInput" in credentials


def test_an_unknown_rest_access_stops_start_up(monkeypatch):
    monkeypatch.setenv("REST_ACCESS", "public")
    with pytest.raises(SystemExit, match="REST_ACCESS"):
        load_settings()


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}],
    ids=["none", "wrong", "not bearer"],
)
async def test_token_mode_refuses_callers_without_the_token(monkeypatch, headers):
    monkeypatch.setenv("RASA_API_TOKEN", "s3cret")
    channel = ClinicRestInput.from_credentials({"require_token": True})
    refused = await channel.check_request(request(headers))
    assert refused is not None and refused.status == 401


async def test_token_mode_lets_the_token_through(monkeypatch):
    monkeypatch.setenv("RASA_API_TOKEN", "s3cret")
    channel = ClinicRestInput.from_credentials({"require_token": True})
    ok = request({"authorization": "Bearer s3cret"})
    assert await channel.check_request(ok) is None
    assert ok.ctx.rest_payload.sender == "integration-1"


async def test_open_mode_needs_no_token(monkeypatch):
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    channel = ClinicRestInput.from_credentials(None)
    assert await channel.check_request(request({})) is None
