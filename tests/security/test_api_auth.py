"""Rasa's API guard takes the token from the Authorization header only."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import rasa.server

from bot import api_auth


def request(args: dict, headers: dict) -> SimpleNamespace:
    return SimpleNamespace(args=args, headers=headers)


async def handler(request):
    return "served"


@pytest.fixture
def guarded():
    return api_auth.requires_auth(SimpleNamespace(config={}), "s3cret")(handler)


async def test_the_header_lets_the_request_through(guarded):
    assert await guarded(request({}, {"authorization": "Bearer s3cret"})) == "served"


@pytest.mark.parametrize(
    "args, headers",
    [
        ({"token": ["s3cret"]}, {}),
        ({"token": ["s3cret"]}, {"authorization": "Bearer s3cret"}),
        ({}, {}),
        ({}, {"authorization": "Bearer wrong"}),
        ({}, {"authorization": "s3cret"}),
        ({}, {"authorization": "Bearer s3cret "}),
    ],
)
async def test_anything_else_is_401(guarded, args, headers):
    with pytest.raises(rasa.server.ErrorResponse) as refused:
        await guarded(request(args, headers))
    assert refused.value.status == 401


def test_apply_replaces_rasas_guard_once_and_keeps_the_original(monkeypatch):
    original = rasa.server.requires_auth
    monkeypatch.setattr(api_auth, "_original", {})
    monkeypatch.setattr(rasa.server, "requires_auth", original)
    api_auth.apply()
    api_auth.apply()
    assert rasa.server.requires_auth is api_auth.requires_auth
    assert api_auth._original["requires_auth"] is original


def test_apply_refuses_another_rasa_version(monkeypatch):
    import rasa

    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    with pytest.raises(RuntimeError, match="3.7.0"):
        api_auth.apply()
