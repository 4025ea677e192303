"""The cluster's nginx in front of two action servers: a call whose server
dies before answering (kill -9 mid-call) is passed to the other server,
so the patient gets the answer, not an apology. Every action may run twice:
the submits and the handoff email are deduplicated by the store."""

from __future__ import annotations

import subprocess

import requests

from bot.ops.cluster import nginx_binary, nginx_config
from bot.ops.localhost import free_port
from bot.ops.supervisor import wait_for
from tests.standins import DroppingActionServer

ANSWER = {"events": [], "responses": []}


def test_a_call_dropped_by_one_action_server_is_answered_by_the_other(tmp_path):
    with (
        DroppingActionServer(drops=10) as dying,
        DroppingActionServer(drops=0) as alive,
    ):
        listen = free_port()
        config = tmp_path / "nginx.conf"
        config.write_text(
            nginx_config(
                str(free_port()),
                [f"127.0.0.1:{free_port()}"],
                tmp_path,
                actions_listen=f"127.0.0.1:{listen}",
                # The dying one first: least_conn starts with it.
                actions=[f"127.0.0.1:{dying.port}", f"127.0.0.1:{alive.port}"],
            )
        )
        nginx = subprocess.Popen(
            [nginx_binary(), "-p", str(tmp_path), "-c", str(config),
             "-g", "daemon off;"],  # fmt: skip
        )
        try:
            url = f"http://127.0.0.1:{listen}/webhook"
            assert wait_for(f"tcp://127.0.0.1:{listen}", 10)
            body = {"next_action": "validate_booking_form", "tracker": {}}
            answers = [requests.post(url, json=body, timeout=10) for _ in range(4)]
        finally:
            nginx.terminate()
            nginx.wait(10)
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json() == ANSWER for a in answers)
    assert dying.requests >= 1
