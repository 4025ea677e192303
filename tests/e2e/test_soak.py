"""A bounded soak run: memory of the Rasa and action servers stays flat.

After a warm-up (models loaded, caches filled), a few thousand messages from
many conversations, FAQ and bookings mixed, must not grow either server's
resident memory by more than 10 %.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot import PROJECT_ROOT
from tests.servers import MODEL, Servers, command_line, descendants, free_port, rss_kib

pytestmark = pytest.mark.slow

SOAK_SECONDS = 60
FAQ = [
    "does it hurt?",
    "what is a trigger point",
    "how is it different from acupuncture",
    "any side effects",
    "what should I do afterwards",
    "how long do the needles stay in",
]
BOOKING = [
    "/book_appointment",
    "Sam",
    "0412 345 678",
    "skip",
    "any time",
    "stiff neck",
    "yes",
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp("soak")
    env = {
        "DATABASE_URL": f"sqlite:///{root / 'clinic.db'}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(free_port()),
        "SMTP_TIMEOUT": "0.2",
        "CLINIC_SETTINGS": str(PROJECT_ROOT / "tests" / "fixtures" / "always_open.yml"),
    }
    servers = Servers(root / "conversations.db", root / "servers.log", env)
    servers.start()
    yield servers
    servers.stop()


def conversation(servers, n: int) -> int:
    user = f"soak-{uuid.uuid4().hex[:10]}"
    script = FAQ[n % len(FAQ) :] + FAQ[: n % len(FAQ)]
    script = script[:3] + (BOOKING if n % 3 == 0 else [])
    for text in script:
        assert servers.say(user, text), text
    return len(script)


def run_for(servers, seconds: float) -> int:
    deadline, sent, n = time.monotonic() + seconds, 0, 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        while time.monotonic() < deadline:
            jobs = [pool.submit(conversation, servers, n + i) for i in range(8)]
            sent += sum(job.result() for job in jobs)
            n += 8
    return sent


def server_memory(servers) -> dict[str, int]:
    memory = {}
    for pid in descendants(servers.process.pid):
        line = command_line(pid)
        if "bot.rasa.server" in line:
            memory["rasa"] = rss_kib(pid)
        elif "-m rasa_sdk" in line:
            memory["actions"] = rss_kib(pid)
    assert set(memory) == {"rasa", "actions"}, memory
    return memory


def test_memory_stays_flat_under_steady_traffic(servers):
    run_for(servers, 15)
    before = server_memory(servers)
    sent = run_for(servers, SOAK_SECONDS)
    after = server_memory(servers)
    print(f"soak: {sent} messages in {SOAK_SECONDS} s; RSS KiB {before} -> {after}")
    assert sent > 200
    for name in before:
        assert after[name] <= before[name] * 1.10, (name, before, after)
