"""Kill processes of a running cluster under a booking load, and count what
the patients saw.

Patients keep booking over REST through nginx while the runner kill -9s one
Rasa instance, then an action server, then a Rasa instance twice (the second
time while it is still starting again). A patient's client retries a
message once when nginx answers 502/503/504 or the connection fails, as a
widget or a provider's webhook delivery would. Used by
``tests/e2e/test_chaos_e2e.py`` (which holds the targets) and by ``make bench``
(the "failover" row).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bot.booking.reference import looks_like_reference
from bot.booking.spool import Spool
from bot.booking.store import BookingStore
from bot.supervisor import supervisorctl

BOOKING = [
    "hi, does dry needling hurt?",
    "ok I'd like to book an assessment",
    "Sam",
    "0412 345 678",
    "skip",
    "any time",
    "stiff neck",
    "yes",
]
RETRY_STATUSES = (502, 503, 504)
# Targets (issue 13): conversations that end in a booking, seconds until a
# killed process serves again.
MIN_COMPLETED = 0.99
MAX_RECOVERY_SECONDS = 15.0
SPOOL_WAIT_SECONDS = 60.0


@dataclass
class Tally:
    """What the patients saw, counted by the client threads."""

    started: int = 0
    completed: int = 0
    retries: int = 0
    empty_replies: int = 0
    failures: list[str] = field(default_factory=list)
    # sender -> the reference the patient was shown
    references: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class ChaosResult:
    conversations: int
    completed: int
    retries: int
    empty_replies: int
    failures: list[str]
    recoveries: dict[str, float]
    bookings_stored: int
    stored_twice: int
    lost: int

    @property
    def completed_share(self) -> float:
        return self.completed / self.conversations if self.conversations else 0.0

    def problems(self) -> list[str]:
        """Every target this run missed, in words."""
        found = []
        if self.completed_share < MIN_COMPLETED:
            found.append(
                f"{self.completed} of {self.conversations} conversations completed "
                f"({self.completed_share:.3f} < {MIN_COMPLETED})"
            )
        found += [
            f"{name} served again only after {seconds:.1f} s"
            for name, seconds in self.recoveries.items()
            if seconds > MAX_RECOVERY_SECONDS
        ]
        if self.empty_replies:
            found.append(f"{self.empty_replies} empty replies")
        if self.stored_twice:
            found.append(f"{self.stored_twice} bookings stored twice")
        if self.lost:
            found.append(f"{self.lost} bookings shown to a patient but not stored")
        return found

    def summary(self) -> str:
        recoveries = ", ".join(f"{k} {v:.1f} s" for k, v in self.recoveries.items())
        return (
            f"{self.completed}/{self.conversations} conversations booked "
            f"({self.completed_share:.3f}), {self.retries} retries, "
            f"{self.empty_replies} empty replies, {len(self.failures)} failed "
            f"messages; back to serving: {recoveries}; bookings stored "
            f"{self.bookings_stored}, twice {self.stored_twice}, lost {self.lost}"
        )


class Patients:
    """Client threads that book one conversation after another until told
    to stop; each finishes the conversation it is in."""

    def __init__(self, url: str, workers: int, pause: float, tag: str) -> None:
        self.url = url
        self.workers = workers
        self.pause = pause
        self.tag = tag
        self.tally = Tally()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, args=(n,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> Tally:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=120)
        return self.tally

    def _work(self, worker: int) -> None:
        session = requests.Session()
        while not self.stopping.is_set():
            sender = f"{self.tag}-{worker}-{uuid.uuid4().hex[:6]}"
            with self.tally.lock:
                self.tally.started += 1
            reference = self._converse(session, sender)
            if reference:
                with self.tally.lock:
                    self.tally.completed += 1
                    self.tally.references[sender] = reference

    def _converse(self, session: requests.Session, sender: str) -> str | None:
        replies: list[dict] = []
        for text in BOOKING:
            replies = self._send(session, sender, text)
            if replies is None:
                return None
            time.sleep(self.pause)
        for reply in replies:
            words = (reply.get("text") or "").replace(".", " ").split()
            for word in words:
                if looks_like_reference(word):
                    return word
        with self.tally.lock:
            self.tally.failures.append(f"{sender}: no reference in {replies!r:.200}")
        return None

    def _send(
        self, session: requests.Session, sender: str, text: str
    ) -> list[dict] | None:
        for attempt in (1, 2):
            try:
                response = session.post(
                    f"{self.url}/webhooks/rest/webhook",
                    json={"sender": sender, "message": text},
                    timeout=30,
                )
            except requests.RequestException as error:
                problem = f"{type(error).__name__}"
            else:
                if response.ok:
                    replies = response.json()
                    if not replies:
                        with self.tally.lock:
                            self.tally.empty_replies += 1
                    return replies
                problem = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    attempt = 2
            if attempt == 1:
                with self.tally.lock:
                    self.tally.retries += 1
                continue
            with self.tally.lock:
                self.tally.failures.append(f"{sender} {text!r}: {problem}")
            return None
        return None


def pid_of(run_dir: Path, program: str) -> int | None:
    result = supervisorctl(run_dir, "status", program, check=False)
    parts = result.stdout.split()
    if len(parts) >= 4 and parts[1] == "RUNNING" and parts[2] == "pid":
        return int(parts[3].rstrip(","))
    return None


def kill(run_dir: Path, program: str, timeout: float = 60) -> int:
    """kill -9 the program's process (waiting until it has one)."""
    deadline = time.monotonic() + timeout
    while (pid := pid_of(run_dir, program)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{program} has no running process to kill")
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return pid


def serving(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def seconds_until_serving(
    run_dir: Path, program: str, killed_pid: int, url: str, since: float
) -> float:
    """From ``since`` until the program runs as a new process and answers
    ``url`` (Rasa's root route answers once the model is loaded)."""
    deadline = since + 120
    while time.monotonic() < deadline:
        pid = pid_of(run_dir, program)
        if pid and pid != killed_pid and serving(url):
            return time.monotonic() - since
        time.sleep(0.1)
    return float("inf")


@dataclass(frozen=True)
class Target:
    program: str
    health_url: str


def run(
    url: str,
    run_dir: Path,
    database_url: str,
    rasa: list[Target],
    actions: list[Target],
    spool: Path | None = None,
    workers: int = 4,
    pause: float = 0.3,
    settle: float = 4.0,
) -> ChaosResult:
    """Load, three rounds of kill -9, load again, then count."""
    tag = f"chaos{uuid.uuid4().hex[:6]}"
    patients = Patients(url, workers, pause, tag)
    patients.start()
    recoveries: dict[str, float] = {}
    try:
        time.sleep(settle)
        for target in (rasa[0], actions[0]):
            killed_at = time.monotonic()
            pid = kill(run_dir, target.program)
            recoveries[f"{target.program} killed"] = seconds_until_serving(
                run_dir, target.program, pid, target.health_url, killed_at
            )
            time.sleep(settle)
        # The last Rasa instance twice: again while it is loading its model.
        target = rasa[-1]
        first = kill(run_dir, target.program)
        respawned = time.monotonic() + 30
        while pid_of(run_dir, target.program) in (None, first):
            if time.monotonic() > respawned:
                break
            time.sleep(0.1)
        time.sleep(1.5)
        killed_at = time.monotonic()
        pid = kill(run_dir, target.program)
        recoveries[f"{target.program} killed while starting"] = seconds_until_serving(
            run_dir, target.program, pid, target.health_url, killed_at
        )
        time.sleep(settle)
    finally:
        tally = patients.stop()
    # A booking the database could not take at once waits in the action
    # server's spool (BOOKING_SPOOL) and is moved in by its retry loop: lost
    # only if it never arrives.
    deadline = time.monotonic() + SPOOL_WAIT_SECONDS
    while True:
        result = count(tally, database_url, tag, recoveries, spool)
        if not result.lost or time.monotonic() > deadline:
            return result
        time.sleep(1)


def count(
    tally: Tally,
    database_url: str,
    tag: str,
    recoveries: dict[str, float],
    spool: Path | None = None,
) -> ChaosResult:
    """Compare what patients were shown with what the clinic stored: in the
    database, or durably queued in the action server's spool for it."""
    stored: dict[str, list[str]] = {}
    rows = [(b.conversation_id, b.reference) for b in BookingStore(database_url).list()]
    if spool is not None and spool.exists():
        rows += [(r.conversation_id, ref) for _, ref, r in Spool(spool).waiting()]
    for conversation_id, reference in rows:
        sender = conversation_id.removeprefix("rest:")
        if sender.startswith(tag):
            stored.setdefault(sender, []).append(reference)
    stored_twice = sum(len(refs) - 1 for refs in stored.values())
    lost = sum(
        1
        for sender, reference in tally.references.items()
        if reference not in stored.get(sender, [])
    )
    return ChaosResult(
        conversations=tally.started,
        completed=tally.completed,
        retries=tally.retries,
        empty_replies=tally.empty_replies,
        failures=list(tally.failures),
        recoveries=recoveries,
        bookings_stored=sum(len(refs) for refs in stored.values()),
        stored_twice=stored_twice,
        lost=lost,
    )
