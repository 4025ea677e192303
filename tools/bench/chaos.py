"""Kill processes of a running cluster under a booking load, and count what
the patients saw.

Patients keep booking over REST through nginx while the runner kill -9s one
Rasa instance, then an action server, then a Rasa instance twice (the second
time while it is still starting again). A patient's client retries a
message once when nginx answers 502/503/504 or the connection fails, as a
widget or a provider's webhook delivery would. Also here: ``bot cluster
reload`` under the same load, and SIGTERM to one instance with messages in
flight.

Each run returns its figures and ``problems()``: what went wrong whatever
the timing (a booking lost or stored twice, a failed or empty reply, a
process not serving again within a minute). ``tests/e2e/test_chaos_e2e.py``
asserts there are none; ``make bench`` runs the same scenarios, reports FAIL
on any problem and prints the times against their targets
(tools/bench/report.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa

from bot import PROJECT_ROOT
from bot.booking.reference import looks_like_reference
from bot.booking.spool import Spool
from bot.booking.store import BookingStore
from bot.ops.supervisor import supervisorctl

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
# Conversations that must end in a booking (issue 13).
MIN_COMPLETED = 0.99
# A process that does not serve again within this is broken, not slow; how
# fast it comes back is a figure of `make bench` (tools/bench/report.py).
SERVES_AGAIN_SECONDS = 60.0
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
        """What went wrong, in words; how fast each process came back is a
        figure, not a problem, unless it did not come back at all."""
        found = []
        if self.completed_share < MIN_COMPLETED:
            found.append(
                f"{self.completed} of {self.conversations} conversations completed "
                f"({self.completed_share:.3f} < {MIN_COMPLETED})"
            )
        found += [
            f"{name} did not serve again within {SERVES_AGAIN_SECONDS:.0f} s "
            f"({seconds:.1f} s)"
            for name, seconds in self.recoveries.items()
            if seconds > SERVES_AGAIN_SECONDS
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


@dataclass(frozen=True)
class ReloadResult:
    """``bot cluster reload`` under a booking load."""

    returncode: int
    output: str
    seconds: float
    # rasa-N -> seconds from leaving nginx to serving the new model
    instances: dict[str, float]
    conversations: int
    completed: int
    retries: int
    empty_replies: int
    failures: list[str]

    def problems(self) -> list[str]:
        """A reload must cost the patients nothing: not a retry, not an
        empty reply, not one conversation left without its booking."""
        found = []
        if self.returncode != 0:
            found.append(f"reload exited {self.returncode}: {self.output[-300:]}")
        if self.failures:
            found.append(f"{len(self.failures)} failed: {self.failures[:3]}")
        if self.retries:
            found.append(f"{self.retries} messages needed a retry")
        if self.empty_replies:
            found.append(f"{self.empty_replies} empty replies")
        if self.completed != self.conversations:
            found.append(
                f"{self.completed} of {self.conversations} conversations booked"
            )
        return found

    def summary(self) -> str:
        each = ", ".join(f"{k} {v:.1f} s" for k, v in self.instances.items())
        return (
            f"reload took {self.seconds:.1f} s ({each}); {self.completed}/"
            f"{self.conversations} conversations booked, {self.retries} retries, "
            f"{self.empty_replies} empty replies, {len(self.failures)} failed"
        )


def reload_under_load(
    url: str, env: dict[str, str], workers: int = 4, pause: float = 0.1
) -> ReloadResult:
    """Patients book through nginx at ``url`` while ``bot cluster reload``
    (with the cluster's ``env``) restarts each Rasa instance in turn."""
    patients = Patients(url, workers, pause, f"reload{uuid.uuid4().hex[:6]}")
    patients.start()
    lines: list[str] = []
    left: dict[str, float] = {}
    instances: dict[str, float] = {}
    started = time.monotonic()
    try:
        reload = subprocess.Popen(
            [sys.executable, "-m", "bot", "cluster", "reload"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in reload.stdout:
            lines.append(line)
            name, _, said = line.partition(": ")
            if said.startswith("out of nginx"):
                left[name] = time.monotonic()
            elif said.startswith("serving") and name in left:
                instances[name] = time.monotonic() - left[name]
        returncode = reload.wait()
        seconds = time.monotonic() - started
    finally:
        tally = patients.stop()
    return ReloadResult(
        returncode=returncode,
        output="".join(lines),
        seconds=seconds,
        instances=instances,
        conversations=tally.started,
        completed=tally.completed,
        retries=tally.retries,
        empty_replies=tally.empty_replies,
        failures=list(tally.failures),
    )


@dataclass(frozen=True)
class DrainResult:
    """SIGTERM to one Rasa instance with messages in flight."""

    messages: int
    answered: int
    # answered after the SIGTERM: in flight when it came
    answered_after_signal: int
    # refusals of a connection made after the SIGTERM, by kind
    refused: dict[str, int]
    failures: list[str]
    # senders whose message the instance took in (stored) but never answered
    unanswered: list[str]
    stop_seconds: float
    back_seconds: float

    def problems(self) -> list[str]:
        """Every message the instance took in is answered; a new one may be
        refused in any way; the instance stops and serves again."""
        found = []
        if self.failures:
            found.append(f"{len(self.failures)} failed: {self.failures[:3]}")
        if self.unanswered:
            found.append(
                f"{len(self.unanswered)} messages taken in but not answered: "
                f"{self.unanswered[:3]}"
            )
        if not self.answered_after_signal:
            found.append("no message was in flight at the SIGTERM")
        if self.stop_seconds > SERVES_AGAIN_SECONDS:
            found.append(f"still running {SERVES_AGAIN_SECONDS:.0f} s after SIGTERM")
        if self.back_seconds > SERVES_AGAIN_SECONDS:
            found.append(f"not serving again within {SERVES_AGAIN_SECONDS:.0f} s")
        return found

    def summary(self) -> str:
        return (
            f"SIGTERM with {self.messages} messages sent: {self.answered} answered "
            f"({self.answered_after_signal} after the signal), refused "
            f"{self.refused or 'none'}, {len(self.failures)} failed, "
            f"{len(self.unanswered)} taken in but unanswered; stopped after "
            f"{self.stop_seconds:.1f} s, serving again after {self.back_seconds:.1f} s"
        )


def _refusal(error: requests.ConnectionError) -> str:
    """How a connection made after the SIGTERM was turned away."""
    text = str(error)
    if "refused" in text.lower():
        return "connection refused"
    if "reset" in text.lower():
        return "connection reset"
    return "connection closed"


def _held_message(url: str, sender: str) -> tuple[HTTPConnection, bytes]:
    """A message whose head and first bytes are sent now, the rest later: in
    the instance's hands for sure when the SIGTERM comes."""
    body = json.dumps({"sender": sender, "message": "hi"}).encode()
    address = urlsplit(url)
    connection = HTTPConnection(address.hostname, address.port, timeout=30)
    connection.putrequest("POST", "/webhooks/rest/webhook")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body[:5])
    return connection, body[5:]


def _replies(status: int, body: bytes) -> list:
    """The bot's replies in a webhook answer; empty unless a 200 with some."""
    if status != 200:
        return []
    try:
        replies = json.loads(body)
    except ValueError:
        return []
    return replies if isinstance(replies, list) else []


def stopped(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def senders_taken_in(database_url: str, tag: str) -> set[str]:
    """Senders under ``tag`` whose message is in the tracker store: Rasa
    saves a turn before it sends the reply, so each was taken in and handled."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT DISTINCT sender_id FROM events "
                    "WHERE type_name = 'user' AND sender_id LIKE :senders"
                ),
                {"senders": f"rest:{tag}-%"},
            )
            return {sender.removeprefix("rest:") for (sender,) in rows}
    finally:
        engine.dispose()


def sigterm_drain(
    url: str, run_dir: Path, target: Target, database_url: str, messages: int = 12
) -> DrainResult:
    """SIGTERM to ``target`` (a Rasa instance at ``url``, not through nginx)
    while one message is half sent and ``messages`` more arrive at once."""
    tag = f"drain{uuid.uuid4().hex[:6]}"
    held, rest = _held_message(url, f"{tag}-held")
    # The instance reads the head meanwhile: from then on the message is its.
    time.sleep(0.5)
    answered: dict[str, float] = {}
    refused: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(messages + 1)

    def send(n: int) -> None:
        sender = f"{tag}-{n}"
        barrier.wait()
        try:
            response = requests.post(
                f"{url}/webhooks/rest/webhook",
                json={"sender": sender, "message": "hi"},
                timeout=30,
            )
        except requests.ConnectionError as error:
            with lock:
                refused[_refusal(error)] += 1
            return
        except requests.RequestException as error:
            with lock:
                failures.append(f"{sender}: {type(error).__name__}")
            return
        replies = _replies(response.status_code, response.content)
        with lock:
            if response.status_code == 503:
                refused["503"] += 1
            elif replies:
                answered[sender] = time.monotonic()
            else:
                failures.append(
                    f"{sender}: HTTP {response.status_code} {response.text:.80}"
                )

    threads = [threading.Thread(target=send, args=(n,)) for n in range(messages)]
    for thread in threads:
        thread.start()
    pid = pid_of(run_dir, target.program)
    if pid is None:
        raise RuntimeError(f"{target.program} is not running")
    barrier.wait()
    time.sleep(0.05)
    signalled = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.3)
    try:
        held.send(rest)
        response = held.getresponse()
        if _replies(response.status, response.read()):
            with lock:
                answered[f"{tag}-held"] = time.monotonic()
        else:
            with lock:
                failures.append(f"the half-sent message: HTTP {response.status}")
    except (OSError, HTTPException) as error:
        with lock:
            failures.append(f"the half-sent message: {type(error).__name__}")
    finally:
        held.close()
    for thread in threads:
        thread.join(60)
    stop_deadline = signalled + SERVES_AGAIN_SECONDS + 30
    while not stopped(pid) and time.monotonic() < stop_deadline:
        time.sleep(0.05)
    stop_seconds = time.monotonic() - signalled
    back_seconds = seconds_until_serving(
        run_dir, target.program, pid, target.health_url, signalled
    )
    taken_in = senders_taken_in(database_url, tag)
    return DrainResult(
        messages=messages + 1,
        answered=len(answered),
        answered_after_signal=sum(at > signalled for at in answered.values()),
        refused=dict(refused),
        failures=failures,
        unanswered=sorted(taken_in - set(answered)),
        stop_seconds=stop_seconds if stopped(pid) else float("inf"),
        back_seconds=back_seconds,
    )
