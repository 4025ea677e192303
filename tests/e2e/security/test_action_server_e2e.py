"""The action server trusts nobody: it listens on the loopback only, every
call needs the secret Rasa sends, and a submit re-checks the tracker."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
import yaml

from bot.booking.store import BookingStore

FORGED = {
    "next_action": "action_submit_booking",
    "sender_id": "forged",
    "tracker": {
        "sender_id": "forged",
        "slots": {
            "first_name": '=HYPERLINK("http://evil","x")',
            "phone": "0412\x00345678",
            "email": "none",
            "preferred_time": "any time",
            "preferred_start": "2030-01-01T09:00:00+10:00",
            "preferred_end": "2030-01-01T10:00:00+10:00",
            "preferred_label": "Tue 1 Jan",
            "concern": "x",
            "booking_confirmed": True,
        },
        "latest_message": {"text": "yes", "intent": {"name": "affirm"}},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    },
    "domain": {},
    "version": "3.6.21",
}


def action_url(servers) -> str:
    return f"http://127.0.0.1:{servers.action_port}"


def rasas_secret(servers) -> str:
    """What Rasa sends, from the endpoints.yml ``bot serve`` wrote."""
    path = Path(servers.tracker_db).parent / f"run-{servers.rasa_port}/endpoints.yml"
    endpoints = yaml.safe_load(path.read_text())
    return endpoints["action_endpoint"]["headers"]["Authorization"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "wrong"}],
    ids=["none", "wrong token", "not bearer"],
)
def test_calls_without_the_secret_are_refused(servers, database, headers):
    forged = {**FORGED, "sender_id": f"forged-{uuid.uuid4().hex[:6]}"}
    response = requests.post(
        f"{action_url(servers)}/webhook", json=forged, headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert not [
        b
        for b in BookingStore(database).list()
        if b.conversation_id.startswith("forged")
    ]


def test_the_health_check_stays_open(servers):
    assert requests.get(f"{action_url(servers)}/health", timeout=10).ok


def test_even_with_the_secret_a_forged_tracker_is_not_stored(servers, database):
    response = requests.post(
        f"{action_url(servers)}/webhook",
        json=FORGED,
        headers={"Authorization": rasas_secret(servers)},
        timeout=10,
    )
    assert response.status_code == 200
    assert [r.get("response") for r in response.json()["responses"]] == [
        "utter_booking_unchecked"
    ]
    assert not [
        b for b in BookingStore(database).list() if b.conversation_id == "forged"
    ]


def listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on ``port`` (Linux /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_action_server_listens_on_the_loopback_only(servers):
    addresses = listening_addresses(servers.action_port)
    assert addresses == {"0100007F"}, addresses  # 127.0.0.1, not 0.0.0.0 or ::
