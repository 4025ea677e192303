"""The action server down: the running Rasa server apologises within two
seconds, with the clinic's number, and never stays silent."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.servers import MODEL, Servers, free_port


@pytest.fixture(scope="module")
def servers_without_actions(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp("resilience")
    env = {
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}/webhook",
        "DATABASE_URL": f"sqlite:///{root / 'clinic.db'}",
    }
    servers = Servers(root / "conversations.db", root / "servers.log", env)
    servers.start()
    yield servers
    servers.stop()


def test_e2e_action_server_down(servers_without_actions):
    servers = servers_without_actions
    user = f"down-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    reply = [m["text"] for m in servers.say(user, "does it hurt?")]
    assert time.monotonic() - started < 2
    assert "(02) 5550 1234" in reply[0] and "cramp" in reply[-1]
    servers.say(user, "/book_appointment")
    started = time.monotonic()
    reply = [m["text"] for m in servers.say(user, "Priya")]
    assert time.monotonic() - started < 2
    assert "couldn't finish" in reply[0] and "first name" in reply[-1]
