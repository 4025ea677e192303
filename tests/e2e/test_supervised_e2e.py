"""``make run`` under supervisord: kill -9 any one process and it serves again.

The action server, the Rasa server and the website each die once; each is
started again within the target time, and a patient then books as usual.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.servers import MODEL, Servers
from tools.bench import chaos


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp("supervised")
    running = Servers(root / "conversations.db", root / "servers.log")
    running.start()
    yield running
    running.stop()


@pytest.mark.parametrize("program", ["actions", "rasa", "web"])
def test_a_killed_process_serves_again(servers, program):
    run_dir = servers.tracker_db.parent / f"run-{servers.rasa_port}"
    health = {
        "actions": f"http://127.0.0.1:{servers.action_port}/health",
        "rasa": f"{servers.url}/",
        "web": f"http://127.0.0.1:{servers.web_port}/",
    }[program]
    others = {name: chaos.pid_of(run_dir, name) for name in ("actions", "rasa", "web")}
    killed_at = time.monotonic()
    pid = chaos.kill(run_dir, program)
    seconds = chaos.seconds_until_serving(run_dir, program, pid, health, killed_at)
    assert seconds <= chaos.SERVES_AGAIN_SECONDS, seconds
    # The others were never touched.
    for name, other_pid in others.items():
        if name != program:
            assert chaos.pid_of(run_dir, name) == other_pid, name
    user = f"after-{program}"
    replies = []
    for text in chaos.BOOKING:
        replies = servers.say(user, text)
        assert replies, text
    assert any("reference is" in r.get("text", "") for r in replies), replies
    log = servers.log.read_text(errors="replace")
    assert f"exited: {program} (terminated by SIGKILL; not expected)" in log


def test_a_killed_supervisord_starts_every_process_again(servers):
    """The supervisor itself is the process nothing else would restart."""
    run_dir = servers.tracker_db.parent / f"run-{servers.rasa_port}"
    names = ("actions", "rasa", "web")
    old = {name: chaos.pid_of(run_dir, name) for name in names}
    assert all(old.values()), old
    supervisord = int((run_dir / "supervisord.pid").read_text())
    os.kill(supervisord, signal.SIGKILL)
    started = time.monotonic()
    deadline = started + 120
    while time.monotonic() < deadline:
        now = {name: chaos.pid_of(run_dir, name) for name in names}
        if all(now.values()) and not set(now.values()) & set(old.values()):
            if chaos.serving(f"{servers.url}/"):
                break
        time.sleep(0.2)
    else:
        pytest.fail(f"not serving again within 120 s: {now}")
    print(
        f"kill -9 of supervisord: serving again in {time.monotonic() - started:.1f} s"
    )
    for pid in old.values():
        assert not alive(pid), pid
    replies = []
    for text in chaos.BOOKING:
        replies = servers.say("after-supervisord", text)
        assert replies, text
    assert any("reference is" in r.get("text", "") for r in replies), replies
    assert servers.process.poll() is None


def test_sigterm_stops_every_process(servers):
    """What Ctrl-C does to `make run`: every program stops, none is left."""
    run_dir = servers.tracker_db.parent / f"run-{servers.rasa_port}"
    pids = [chaos.pid_of(run_dir, name) for name in ("actions", "rasa", "web")]
    assert all(pids), pids
    servers.stop()
    assert servers.process.poll() is not None
    for pid in pids:
        assert not alive(pid), pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
