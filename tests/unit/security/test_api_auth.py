"""Rasa's API guard takes the token from the Authorization header only."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import rasa.server

from bot.rasa import api_auth


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
