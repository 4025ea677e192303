"""Patient scenarios (tests/scenarios/*.yml) typed on their channel at the real
servers; replies and the stored booking (or its absence) are checked."""

from __future__ import annotations

import pytest
import requests
import yaml

from bot import PROJECT_ROOT
from bot.booking.store import BookingStore
from tests.chat import (
    CHANNELS,
    Chat,
    fold,
    make_a_day_older,
)

SCENARIOS = PROJECT_ROOT / "tests" / "scenarios"
TURN_KEYS = set("user wait expect_any expect_all expect_none expect_in_order".split())


def load_scenarios() -> list[dict]:
    found = []
    for path in sorted(SCENARIOS.glob("*.yml")):
        for scenario in yaml.safe_load(path.read_text(encoding="utf8"))["scenarios"]:
            found.append({**scenario, "file": path.name})
    return found


ALL = load_scenarios()


@pytest.fixture(scope="module")
def servers(channel_servers):
    return channel_servers


def problems_with(turn: dict, replies: list[str]) -> list[str]:
    said = fold("\n".join(replies))
    found = []
    wanted_any = turn.get("expect_any") or []
    if wanted_any and not any(fold(w) in said for w in wanted_any):
        found.append(f"none of {wanted_any} in the replies")
    found += [
        f"{w!r} missing" for w in turn.get("expect_all") or [] if fold(w) not in said
    ]
    found += [
        f"{w!r} unwanted" for w in turn.get("expect_none") or [] if fold(w) in said
    ]
    position = 0
    for wanted in turn.get("expect_in_order") or []:
        at = said.find(fold(wanted), position)
        if at < 0:
            found.append(f"{wanted!r} not found after position {position} (order)")
            break
        position = at + len(fold(wanted))
    return found


def booking_problems(scenario: dict, conversation_id: str, database: str) -> list[str]:
    stored = BookingStore(database).list()  # ids may gain a channel prefix
    rows = [b for b in stored if b.conversation_id.endswith(conversation_id)]
    if scenario.get("stored") is False and rows:
        return [f"expected no booking, found {rows}"]
    expected = scenario.get("booking")
    if not expected:
        return []
    if not rows:
        return ["no booking stored for this conversation"]
    row, found = rows[-1], []
    for field in ("name", "phone", "email", "channel"):
        if field in expected and getattr(row, field) != expected[field]:
            found.append(
                f"{field}: stored {getattr(row, field)!r}, want {expected[field]!r}"
            )
    part = expected.get("concern_contains")
    if part and fold(part) not in fold(row.concern or ""):
        found.append(f"concern: stored {row.concern!r}, want it to contain {part!r}")
    return found


def test_scenario_files_are_well_formed():
    names = [s["name"] for s in ALL]
    assert len(names) >= 32 and len(set(names)) == len(names)
    for scenario in ALL:
        assert scenario["channel"] in CHANNELS, scenario["name"]
        for turn in scenario["turns"]:
            assert set(turn) <= TURN_KEYS and ("user" in turn) != ("wait" in turn)
            assert turn.get("wait", "next_day") == "next_day", scenario["name"]


@pytest.mark.parametrize("scenario", ALL, ids=[s["name"] for s in ALL])
def test_scenario(scenario, servers, providers, database):
    if servers.process.poll() is not None or not servers._ready():
        servers.stop()  # a crash (or a stray kill) fails one scenario, not the rest
        servers.start()
    chat = Chat(scenario["channel"], servers, providers)
    transcript = [
        f"# {scenario['name']} ({scenario['file']}) on {chat.channel}, id {chat.id}"
    ]

    def fail(where: str, found: list[str]) -> None:
        pytest.fail("\n".join([f"{where}: {'; '.join(found)}", "", *transcript]), False)

    try:
        for number, turn in enumerate(scenario["turns"], start=1):
            if "wait" in turn:
                moved = make_a_day_older(servers.tracker_db, chat.id)
                transcript.append(f"   ... a day later ({moved} events moved) ...")
                continue
            transcript.append(f"{number:>3} patient: {turn['user']}")
            replies = chat.send(turn["user"])
            transcript += [
                f"      bot: {r}".replace("\n", "\n           ") for r in replies
            ]
            found = problems_with(turn, replies)
            if found:
                fail(f"turn {number} ({turn['user']!r})", found)
        found = booking_problems(scenario, chat.id, database)
        if found:
            fail("stored booking", found)
    except requests.RequestException as error:
        fail("transport", [repr(error)])
    finally:
        chat.close()
