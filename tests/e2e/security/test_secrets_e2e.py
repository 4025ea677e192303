"""No secret on a command line of the running servers, which every user of
the machine can read with ``ps``."""

from __future__ import annotations

from tests.servers import TOKEN, command_line, descendants


def test_the_running_servers_show_no_secret_in_ps(servers):
    lines = [command_line(pid) for pid in descendants(servers.process.pid)]
    assert any("bot.rasa.server" in line for line in lines)
    assert any("supervisord" in line for line in lines)
    assert not any(TOKEN in line or "Bearer" in line for line in lines)
