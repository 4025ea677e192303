"""What the benchmark runs besides the load: training, the held-out score,
the served deployment (``bot cluster`` or ``bot serve``), its memory, a
fresh database per run and an SMTP sink for the booking emails."""

from __future__ import annotations

import email
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from aiosmtpd.controller import Controller

from bot import PROJECT_ROOT
from bot.ops.localhost import free_port, free_port_block

PYTHON = sys.executable
# Training needs none of bot/rasa/extensions.py; bot.rasa.server applies it anyway.
RASA = [sys.executable, "-m", "bot.rasa.server"]
# What the Makefile retrains models/faq.tar.gz on, besides the config.
TRAINING_INPUTS = (
    "domain.yml",
    "data",
    "bot/nlp/guard.py",
    "bot/nlp/classifier.py",
    "bot/nlp/details.py",
    "bot/nlp/extractor.py",
    "bot/booking/contact.py",
    "build/spacy_en_physio/source.sha256",
)


def base_env() -> dict[str, str]:
    """What the Makefile exports, so the bench behaves the same outside make."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p
        ),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    }


def training_fingerprint(config: Path) -> str:
    """Hash of what the Makefile retrains on, so a reused model that no longer
    matches the data is reported as such."""
    digest = hashlib.sha256()
    paths = [PROJECT_ROOT / config]
    for name in TRAINING_INPUTS:
        path = PROJECT_ROOT / name
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            paths.append(path)
    for path in paths:
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def train(config: Path, name: str, out_dir: Path, log: Path) -> float:
    """``rasa train`` from scratch; wall-clock seconds, as a developer waits them.

    ``--force`` and a disabled training cache make it a full training that
    neither reads nor fills the project's ``.rasa/cache``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        *RASA, "train", "--config", str(config), "--fixed-model-name", name,
        "--out", str(out_dir), "--force",
    ]  # fmt: skip
    started = time.monotonic()
    with log.open("w") as output:
        result = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env={**base_env(), "RASA_MAX_CACHE_SIZE": "0"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"training {name} failed; see {log}")
    return seconds


def holdout_accuracy(model: Path, report: Path, log: Path) -> float | None:
    """Score with ``tools.evaluate`` (its leak check included) in its own process,
    so TensorFlow never loads into the process that generates the load."""
    command = [
        PYTHON, "-m", "tools.evaluate", str(PROJECT_ROOT / "tests/nlu/holdout.yml"),
        "--model", str(model), "--min-accuracy", "0", "--report", str(report),
    ]  # fmt: skip
    with log.open("w") as output:
        result = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env=base_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        return None
    return json.loads(report.read_text())["accuracy"]


class Mailbox:
    """An SMTP sink (aiosmtpd) counting the clinic notifications it receives."""

    def __init__(self):
        self.messages: list[email.message.Message] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=free_port())

    @property
    def port(self) -> int:
        return self._controller.port

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *_) -> None:
        self._controller.stop()


ACTION_FAILURE = re.compile(r"custom action (\w+) failed \((\w+)")


def action_failures(log: str) -> dict[str, int]:
    """Custom-action calls ``bot.rasa.resilience`` gave up on (and apologised for),
    by action and reason, from a deployment's log."""
    counts = Counter(f"{a} {why}" for a, why in ACTION_FAILURE.findall(log))
    return dict(sorted(counts.items()))


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> list[int]:
    """Every process below ``root``, found through /proc (psutil is not installed)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def role(cmdline: list[str]) -> str | None:
    """Which part of the deployment a command line is; None if not one of ours."""
    joined = " ".join(cmdline)
    if "bot.rasa.server" in joined:
        return "rasa"
    if "-m rasa_sdk" in joined or "run actions" in joined:
        return "action_server"
    if "bot.web" in joined:
        return "website"
    if (cmdline and Path(cmdline[0]).name == "nginx") or joined.startswith("nginx:"):
        return "nginx"
    if " -m bot cluster" in joined or " -m bot serve" in joined:
        return "supervisor"
    return None


def server_roles(processes: Iterable[tuple[int, int | None, list[str]]]) -> dict:
    """pid -> role of each process that is a server in its own right.

    ``processes`` are (pid, parent pid, command line), parents first. A child
    with its parent's role is a fork (a subprocess about to exec, an nginx
    worker): its VmHWM starts at the parent's RSS, so counting it would count
    the parent's memory twice.
    """
    seen: dict[int, str] = {}
    servers: dict[int, str] = {}
    for pid, parent, cmdline in processes:
        kind = role(cmdline)
        if kind is None:
            continue
        if seen.get(parent) != kind:
            servers[pid] = kind
        seen[pid] = kind
    return servers


def _status_kb(pid: int) -> dict[str, int]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return values


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


@dataclass
class MemorySampler:
    """Peak resident memory of a deployment's processes, by role.

    VmHWM is the kernel's own high-water mark of each process, so the peak
    per process is exact whenever it was read; sums across processes come
    from VmRSS sampled every ``interval`` seconds.
    """

    root: int
    interval: float = 0.5
    peaks: dict[int, dict] = field(default_factory=dict)
    total_peak_kb: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict:
        """A last reading after the thread's, so nothing since is missed."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()
        return self.summary()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        """One reading of every server process of the deployment."""
        current: dict[str, int] = {}
        tree = [self.root, *descendants(self.root)]
        processes = [(pid, _parent(pid), _cmdline(pid)) for pid in tree]
        for pid, kind in server_roles(processes).items():
            status = _status_kb(pid)
            if not status:
                continue
            peak = self.peaks.setdefault(pid, {"role": kind, "hwm_kb": 0})
            peak["hwm_kb"] = max(peak["hwm_kb"], status.get("VmHWM", 0))
            current[kind] = current.get(kind, 0) + status.get("VmRSS", 0)
        for kind, kb in current.items():
            self.total_peak_kb[kind] = max(self.total_peak_kb.get(kind, 0), kb)

    def summary(self) -> dict:
        def mb(kb: int) -> float:
            return round(kb / 1024, 1)

        by_role: dict[str, list[float]] = {}
        for peak in self.peaks.values():
            by_role.setdefault(peak["role"], []).append(mb(peak["hwm_kb"]))
        rasa = sorted(by_role.get("rasa", []), reverse=True)
        actions = by_role.get("action_server", [])
        return {
            "rasa_per_process_peak": max(rasa) if rasa else None,
            "rasa_processes_peak": rasa,
            "rasa_total_peak": mb(self.total_peak_kb.get("rasa", 0)) or None,
            "action_server_peak": max(actions) if actions else None,
            "peak_by_role": {k: sorted(v, reverse=True) for k, v in by_role.items()},
        }


class Deployment:
    """``bot cluster --instances N`` (or ``bot serve``) on free ports, in its
    own session so stopping it reaches every process it started."""

    def __init__(
        self, *, instances: int | None, env: dict[str, str], log: Path, token: str
    ):
        self.instances = instances
        self.token = token
        self.rasa_port = free_port_block(1 + (instances or 0))
        self.env = {
            **base_env(),
            **env,
            "RASA_PORT": str(self.rasa_port),
            # bot cluster runs two action servers on ACTION_PORT + 1 and + 2.
            "ACTION_PORT": str(free_port_block(3)),
            "WEB_PORT": str(free_port()),
            "RASA_API_TOKEN": token,
        }
        self.log = log
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def instance_urls(self) -> list[str]:
        if not self.instances:
            return [self.url]
        return [
            f"http://127.0.0.1:{self.rasa_port + 1 + i}" for i in range(self.instances)
        ]

    def command(self) -> list[str]:
        if self.instances:
            return [PYTHON, "-m", "bot", "cluster", "--instances", str(self.instances)]
        return [PYTHON, "-m", "bot", "serve"]

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.started_at = time.monotonic()
        # Append mode: supervisord and every program it runs write to this
        # one file through their own handles.
        self.log.write_text("")
        with self.log.open("a") as output:
            self.process = subprocess.Popen(
                self.command(),
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def all_ready(self, deadline: float) -> bool:
        """Every Rasa instance answers /status (nginx may already pass the
        first answer while the other instances still load their model)."""
        while time.monotonic() < deadline and self.alive():
            try:
                if all(
                    requests.get(
                        f"{u}/status",
                        headers={"Authorization": f"Bearer {self.token}"},
                        timeout=2,
                    ).ok
                    for u in self.instance_urls
                ):
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        """SIGTERM to the whole session, SIGKILL to whatever outlives a minute."""
        if not self.process:
            return
        group = self.process.pid
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.process.poll()
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
