"""Run the real servers (and a real SMTP server) for end-to-end tests."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from bot import PROJECT_ROOT
from bot.ops.localhost import create_database, free_port, free_port_block
from bot.ops.supervisor import children

MODEL = PROJECT_ROOT / "models" / "faq.tar.gz"
TOKEN = "e2e-test-token"
# Every test client is 127.0.0.1, so the per-address limit on handoff
# requests would count a whole module's patients as one client; tests of
# that limit set it themselves.
TEST_CLIENTS = {"HANDOFF_PER_ADDRESS": "1000"}
START_TIMEOUT = 240


def start_until_ready(
    arguments: list[str], env: dict, log: Path, ready
) -> subprocess.Popen:
    """``python -m bot <arguments>`` in its own session, once ``ready()``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bot {arguments[0]} exited; see {log}")
        if ready():
            return process
        time.sleep(1)
    raise RuntimeError(
        f"bot {arguments[0]} not ready after {START_TIMEOUT}s; see {log}"
    )


class Servers:
    """``python -m bot serve`` in its own process group, restartable."""

    def __init__(self, tracker_db: Path, log: Path, env: dict | None = None):
        self.rasa_port = free_port()
        self.action_port = free_port()
        self.web_port = free_port()
        self.tracker_db = tracker_db
        self.log = log
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def web_url(self) -> str:
        return f"http://localhost:{self.web_port}"

    @property
    def database_url(self) -> str:
        """The bookings database, unless the test's env names another."""
        return self.extra_env.get(
            "DATABASE_URL", f"sqlite:///{self.tracker_db.parent / 'clinic.db'}"
        )

    def start(self) -> None:
        env = {
            **os.environ,
            "RASA_PORT": str(self.rasa_port),
            "ACTION_PORT": str(self.action_port),
            "WEB_PORT": str(self.web_port),
            "TRACKER_DB": str(self.tracker_db),
            "RASA_API_TOKEN": TOKEN,
            "MODEL_PATH": str(MODEL),
            "DATABASE_URL": self.database_url,
            "BOOKING_SPOOL": str(self.tracker_db.parent / "booking-spool.db"),
            **TEST_CLIENTS,
            **self.extra_env,
        }
        self.process = start_until_ready(["serve"], env, self.log, self._ready)

    def _ready(self) -> bool:
        try:
            status = requests.get(
                f"{self.url}/status",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=2,
            )
            health = requests.get(
                f"http://127.0.0.1:{self.action_port}/health", timeout=2
            )
            website = requests.get(f"http://127.0.0.1:{self.web_port}/", timeout=2)
        except requests.RequestException:
            return False
        return status.ok and health.ok and website.ok

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def say(self, sender: str, text: str) -> list[dict]:
        return say(self.url, sender, text)


def say(url: str, sender: str, text: str) -> list[dict]:
    """One message over the REST webhook; the bot's replies."""
    response = requests.post(
        f"{url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def descendants(pid: int) -> list[int]:
    """Every process under ``pid``: ``bot serve`` runs supervisord, which
    runs the servers."""
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def wait_for_mail(inbox, text: str, timeout: float = 15) -> list:
    """Mail in ``inbox.messages`` whose subject has ``text``; clinic emails go
    out in the background just after the reply, so allow a moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in inbox.messages if text in m["Subject"]]
        if found:
            return found
        time.sleep(0.1)
    return []


class Inbox:
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def fresh_postgres_database(prefix: str) -> str:
    """A new, empty database on the test PostgreSQL server (.ci/run starts it)."""
    import uuid

    import pytest

    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.fail("TEST_POSTGRES_URL not set: .ci/run starts PostgreSQL")
    return create_database(base, f"{prefix}_{uuid.uuid4().hex[:8]}")


SERVICE_URLS = ("DATABASE_URL", "REDIS_URL", "TRACKER_DATABASE_URL")


class Cluster:
    """``python -m bot cluster`` on free ports in its own session, with a
    fresh PostgreSQL database and the test Redis, or (``database_url`` None)
    with the PostgreSQL and Redis it runs itself, as ``make run-cluster``."""

    def __init__(self, root: Path, database_url: str | None, env: dict | None = None):
        self.root = root
        self.port = free_port_block(3)
        self.action_port = free_port_block(3)
        base = {k: v for k, v in os.environ.items() if k not in SERVICE_URLS}
        if database_url:
            redis_url = os.environ.get("TEST_REDIS_URL")
            if not redis_url:
                raise RuntimeError("TEST_REDIS_URL not set: .ci/run starts Redis")
            services = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        else:
            postgres_port = free_port()
            services = {
                "CLUSTER_POSTGRES_PORT": str(postgres_port),
                "CLUSTER_REDIS_PORT": str(free_port()),
            }
            database_url = f"postgresql://postgres@127.0.0.1:{postgres_port}/postgres"
        self.database_url = database_url
        self.env = {
            **base,
            **services,
            "RASA_PORT": str(self.port),
            "ACTION_PORT": str(self.action_port),
            "WEB_PORT": str(free_port()),
            "TRACKER_DB": str(root / "unused.db"),
            "BOOKING_SPOOL": str(root / "booking-spool.db"),
            "RASA_API_TOKEN": TOKEN,
            "MODEL_PATH": str(MODEL),
            "CLINIC_SETTINGS": str(PROJECT_ROOT / "tests/fixtures/always_open.yml"),
            **TEST_CLIENTS,
            **(env or {}),
        }
        self.log = root / "cluster.log"
        self.process: subprocess.Popen | None = None

    @property
    def urls(self) -> list[str]:
        """nginx, then each Rasa instance."""
        return [
            f"http://127.0.0.1:{p}" for p in (self.port, self.port + 1, self.port + 2)
        ]

    @property
    def run_dir(self) -> Path:
        return self.root / f"run-{self.port}"

    def start(self) -> None:
        self.process = start_until_ready(
            ["cluster", "--instances", "2"], self.env, self.log, self.ready
        )

    def ready(self) -> bool:
        try:
            return all(
                requests.get(
                    f"{u}/status",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=2,
                ).ok
                for u in self.urls
            ) and all(
                requests.get(f"http://127.0.0.1:{p}/health", timeout=2).ok
                for p in (self.action_port + 1, self.action_port + 2)
            )
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
