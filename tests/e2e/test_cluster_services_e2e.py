"""``make run-cluster`` as it runs on a bare machine: its own PostgreSQL and
Redis under supervisord with the rest. kill -9 of the database, of Redis and
of supervisord itself: each time everything serves again and a patient then
books, stored exactly once.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from bot.ops.localhost import stored_bookings
from bot.ops.supervisor import children
from tests.servers import MODEL, Cluster, say
from tools.bench import chaos

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    # PostgreSQL runs as its own user, who must reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="dn-cluster-services-"))
    root.chmod(0o755)
    servers = Cluster(root, None)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()
        shutil.rmtree(root, ignore_errors=True)


def database_answers(url: str) -> bool:
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1
    except Exception:
        return False
    finally:
        engine.dispose()


def redis_answers(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_timeout=1).ping()
    except redis.RedisError:
        return False


def until(condition, timeout: float) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {condition}")


def book(cluster: Cluster, patient: str) -> list[dict]:
    """The booking conversation through nginx; a message the cluster could
    not take while a process restarted is sent once more, as a patient
    would."""
    replies: list[dict] = []
    for line in chaos.BOOKING:
        for attempt in (1, 2):
            try:
                replies = say(cluster.urls[0], patient, line)
                break
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(2)
        assert replies, line
    return replies


def booked(replies: list[dict]) -> bool:
    return any("reference is" in r.get("text", "") for r in replies)


def test_the_cluster_books_into_its_own_postgres(cluster):
    before = stored_bookings(cluster.database_url) or 0
    assert booked(book(cluster, "own-postgres"))
    assert stored_bookings(cluster.database_url) == before + 1
    data = cluster.run_dir / "postgres"
    assert (data / "PG_VERSION").exists()


@pytest.mark.parametrize("which", ["postmaster", "supervised parent"])
def test_a_killed_postgres_serves_again(cluster, which):
    parent = chaos.pid_of(cluster.run_dir, "postgres")
    postmaster = children(parent)[0]
    before = stored_bookings(cluster.database_url)
    os.kill(postmaster if which == "postmaster" else parent, signal.SIGKILL)
    seconds = until(
        lambda: chaos.pid_of(cluster.run_dir, "postgres") not in (None, parent)
        and database_answers(cluster.database_url),
        60,
    )
    assert seconds <= chaos.SERVES_AGAIN_SECONDS, seconds
    # Every booking made before is still there.
    assert stored_bookings(cluster.database_url) == before
    assert booked(book(cluster, f"after-postgres-{which}".replace(" ", "-")))
    assert stored_bookings(cluster.database_url) == before + 1


def test_a_killed_redis_serves_again(cluster):
    port = int(cluster.env["CLUSTER_REDIS_PORT"])
    pid = chaos.kill(cluster.run_dir, "redis")
    seconds = until(
        lambda: chaos.pid_of(cluster.run_dir, "redis") not in (None, pid)
        and redis_answers(port),
        60,
    )
    assert seconds <= chaos.SERVES_AGAIN_SECONDS, seconds
    before = stored_bookings(cluster.database_url)
    assert booked(book(cluster, "after-redis"))
    assert stored_bookings(cluster.database_url) == before + 1


def test_a_killed_supervisord_starts_everything_again(cluster):
    run_dir = cluster.run_dir
    programs = ["postgres", "redis", "rasa-1", "rasa-2", "actions-1", "actions-2",
                "web", "nginx"]  # fmt: skip
    old = {name: chaos.pid_of(run_dir, name) for name in programs}
    assert all(old.values()), old
    supervisord = int((run_dir / "supervisord.pid").read_text())
    before = stored_bookings(cluster.database_url)
    os.kill(supervisord, signal.SIGKILL)

    def all_new_and_ready() -> bool:
        now = {name: chaos.pid_of(run_dir, name) for name in programs}
        return (
            all(now.values())
            and not set(now.values()) & set(old.values())
            and cluster.ready()
        )

    seconds = until(all_new_and_ready, 180)
    print(f"kill -9 of supervisord: everything serving again in {seconds:.1f} s")
    assert cluster.process.poll() is None
    assert booked(book(cluster, "after-supervisord"))
    assert stored_bookings(cluster.database_url) == before + 1
    log = cluster.log.read_text(errors="replace")
    assert "supervisord ended by signal 9" in log
