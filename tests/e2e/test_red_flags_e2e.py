"""Every held-out emergency wins at the real servers, at the first turn and
in the middle of the booking form; no ordinary message gets the emergency
reply. (Recall and precision of the model alone: `make evaluate`.)"""

from __future__ import annotations

import uuid

import pytest
import yaml

from bot import PROJECT_ROOT
from tests.servers import say

EMERGENCY_REPLY = "This could be a medical emergency"
LISTS = PROJECT_ROOT / "tests" / "nlu"


def texts(name: str) -> list[str]:
    data = yaml.safe_load((LISTS / name).read_text(encoding="utf8"))
    return [e["text"] for e in data["examples"]]


def replies(servers, sender: str, text: str) -> str:
    return "\n".join(m.get("text") or "" for m in say(servers.url, sender, text))


def test_every_emergency_wins_first_and_inside_the_form(servers):
    missed = []
    for text in texts("emergencies.yml"):
        first = f"rf-{uuid.uuid4().hex[:10]}"
        if EMERGENCY_REPLY not in replies(servers, first, text):
            missed.append(("first turn", text))
        in_form = f"rf-{uuid.uuid4().hex[:10]}"
        assert "first name" in replies(servers, in_form, "I'd like to book")
        reply = replies(servers, in_form, text)
        if EMERGENCY_REPLY not in reply or "first name" in reply:
            missed.append(("in the form", text))
    assert not missed, missed


@pytest.mark.parametrize("name", ["not_emergencies.yml"])
def test_no_ordinary_message_gets_the_emergency_reply(servers, name):
    false_alarms = [
        text
        for text in texts(name)
        if EMERGENCY_REPLY in replies(servers, f"ok-{uuid.uuid4().hex[:10]}", text)
    ]
    assert not false_alarms, false_alarms
