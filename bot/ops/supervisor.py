"""Run the project's processes under supervisord.

supervisord (a kept, widely used supervisor) restarts a process that dies,
with a back-off when it keeps failing at start-up, logs every exit and start,
and stops everything on Ctrl-C or SIGTERM, giving each process time to answer
what it already received. ``supervisorctl`` (or ``python -m bot cluster
reload``) restarts one process at a time.

Each program starts through ``python -m bot.ops.supervisor exec <env file> --
command``: the environment, secrets included, is read from an owner-only
JSON file instead of being written into supervisord's configuration (where
its quoting and ``%`` rules would apply), and the process asks the kernel
to end it if supervisord itself dies, so a killed supervisor leaves nothing
behind.

supervisord itself runs under ``run``, which starts it again should it be
killed (the one process nothing else would restart): its programs, ended by
the kernel, drain and stop first, then a new supervisord starts them all.
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot import PROJECT_ROOT
from bot.private_files import write_private_text

CONFIG_FILE = "supervisord.conf"
SOCKET_FILE = "supervisor.sock"
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
AFTER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Program:
    """One supervised process: its name, command line and environment."""

    name: str
    command: Sequence[str]
    environment: dict[str, str]
    # Seconds supervisord waits after SIGTERM (messages in flight get
    # answered) before it sends SIGKILL.
    stop_wait: int = 30
    # Lower starts first.
    priority: int = 500
    # The process forks workers that would outlive it (nginx's master and
    # workers): it runs under a small parent that passes signals on and,
    # when it dies, ends what it left behind.
    reap: bool = False
    # Start only once this URL answers (or AFTER_TIMEOUT has passed): Rasa
    # instances loading their models at once each take twice as long on two
    # cores, so the second waits for the first. ``tcp://host:port`` waits
    # for a port that accepts connections (a database).
    after: str | None = None
    # Run as this user (PostgreSQL refuses to run as root).
    user: str | None = None
    # What supervisord sends to stop it: PostgreSQL's fast shutdown is INT
    # (its TERM waits for every client to disconnect).
    stop_signal: str = "TERM"


def _escape(value: str) -> str:
    """supervisord expands ``%(name)s`` in its values; a literal % doubles."""
    return value.replace("%", "%%")


def config_text(programs: Sequence[Program], run_dir: Path) -> str:
    """supervisord.conf for these programs; every log line goes to stdout."""
    lines = [
        "[supervisord]",
        "nodaemon=true",
        # In the foreground supervisord also writes its log to stdout.
        f"logfile={_escape(str(run_dir / 'supervisord.log'))}",
        "logfile_maxbytes=10MB",
        "logfile_backups=3",
        "loglevel=info",
        f"pidfile={_escape(str(run_dir / 'supervisord.pid'))}",
        f"childlogdir={_escape(str(run_dir))}",
        "",
        "[unix_http_server]",
        f"file={_escape(str(run_dir / SOCKET_FILE))}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = "
        "supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_escape(str(run_dir / SOCKET_FILE))}",
        "",
    ]
    for program in programs:
        env_file = run_dir / "env" / f"{program.name}.json"
        mode = "reap" if program.reap else "exec"
        command = [sys.executable, "-m", "bot.ops.supervisor", mode, str(env_file)]
        if program.after:
            command += ["--after", program.after]
        if program.user:
            command += ["--user", program.user]
        if program.stop_signal != "TERM":
            # Also what the kernel sends it should supervisord die.
            command += ["--stop-signal", program.stop_signal]
        command.append("--")
        options = {
            "command": _escape(shlex.join([*command, *program.command])),
            "directory": _escape(str(PROJECT_ROOT)),
            "priority": str(program.priority),
            "autostart": "true",
            # Restart whenever it exits, expected or not. Dying within
            # startsecs of a start counts as a failed start: supervisord then
            # waits 1, 2, 3 ... s between tries and gives up after
            # startretries (the process is then FATAL and the log says so).
            "autorestart": "true",
            "startsecs": "1",
            "startretries": "10",
            "stopsignal": program.stop_signal,
            "stopwaitsecs": str(program.stop_wait),
            "stopasgroup": "true",
            "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": "/dev/stdout",
            "stdout_logfile_maxbytes": "0",
        }
        lines.append(f"[program:{program.name}]")
        lines.extend(f"{key}={value}" for key, value in options.items())
        lines.append("")
    return "\n".join(lines)


def write_config(programs: Sequence[Program], run_dir: Path) -> Path:
    """The configuration and one owner-only environment file per program."""
    (run_dir / "env").mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir / "env", 0o700)
    for program in programs:
        write_private_text(
            run_dir / "env" / f"{program.name}.json",
            json.dumps(program.environment, sort_keys=True),
        )
    config = run_dir / CONFIG_FILE
    write_private_text(config, config_text(programs, run_dir))
    return config


def supervisord_bin() -> str:
    return str(Path(sys.executable).with_name("supervisord"))


def supervisorctl(run_dir: Path, *args: str, check: bool = True):
    """Run ``supervisorctl`` against the supervisord serving ``run_dir``."""
    command = [
        str(Path(sys.executable).with_name("supervisorctl")),
        "-c", str(run_dir / CONFIG_FILE), *args,
    ]  # fmt: skip
    return subprocess.run(command, check=check, capture_output=True, text=True)


def run(programs: Sequence[Program], run_dir: Path) -> int:
    """supervisord in the foreground with these programs, started again if it
    is killed. Ctrl-C or SIGTERM reach supervisord, which stops every program
    gracefully, and then this returns its exit status."""
    config = write_config(programs, run_dir)
    sys.stdout.flush()
    # Programs left by a killed supervisord become our children, so we can
    # wait for them to drain before their successors need the same ports.
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    command = [supervisord_bin(), "--nodaemon", "--configuration", str(config)]
    stopping = False
    supervisord: subprocess.Popen | None = None

    def forward(signum, _frame):
        nonlocal stopping
        stopping = True
        if supervisord and supervisord.poll() is None:
            supervisord.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        supervisord = subprocess.Popen(command, env=_supervisord_environment())
        status = _wait_for_child(supervisord.pid)
        supervisord.returncode = status
        if stopping or status >= 0:
            break
        print(
            f"supervisord ended by signal {-status}; its programs are stopping; "
            "starting it again",
            flush=True,
        )
        _end_orphans(max(p.stop_wait for p in programs))
    _end_orphans(max(p.stop_wait for p in programs))
    return status if status >= 0 else 128 - status


def _wait_for_child(pid: int) -> int:
    """Wait for ``pid``, reaping any orphan that ends meanwhile; its status
    as ``subprocess`` gives it (negative: ended by that signal)."""
    while True:
        done, status = os.waitpid(-1, 0)
        if done == pid:
            return os.waitstatus_to_exitcode(status)


def _end_orphans(wait: float) -> None:
    """Wait up to ``wait`` seconds for processes re-parented to us (asked by
    the kernel to stop when their supervisord died), then kill the rest."""
    deadline = time.monotonic() + wait
    while children(os.getpid()) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.1)
    for pid in children(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while children(os.getpid()) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.05)


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _supervisord_environment() -> dict[str, str]:
    """supervisord needs no secrets; each program reads its own env file."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER")
    return {name: os.environ[name] for name in keep if name in os.environ}


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, value)
    except OSError:
        pass


def _die_with_parent(signum: int = signal.SIGTERM) -> None:
    _prctl(PR_SET_PDEATHSIG, signum)
    if os.getppid() == 1:
        # The parent died between fork and prctl.
        os._exit(1)


def _become(user: str | None, signum: int = signal.SIGTERM) -> None:
    """Drop to ``user`` (when root), then ask for ``signum`` when our parent
    dies: a change of user clears that request."""
    if user and os.getuid() == 0:
        import pwd

        entry = pwd.getpwnam(user)
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    _die_with_parent(signum)


def exec_program(
    env_file: Path,
    command: Sequence[str],
    user: str | None = None,
    signum: int = signal.SIGTERM,
) -> None:
    """Replace this process with ``command`` in the saved environment, sent
    ``signum`` by the kernel should supervisord die."""
    environment = json.loads(env_file.read_text(encoding="utf-8"))
    _become(user, signum)
    os.execvpe(command[0], list(command), environment)


def reap_program(
    env_file: Path,
    command: Sequence[str],
    user: str | None = None,
    signum: int = signal.SIGTERM,
) -> int:
    """Run ``command`` as our child and wait for it. Signals supervisord
    sends us (TERM to stop, HUP to reload) go on to it. Processes it forked
    and left behind when it died (nginx's workers after a kill -9 of their
    master, still holding the port; PostgreSQL's backends after a kill -9 of
    the postmaster, still holding its shared memory) are re-parented to us and
    ended, so the restarted program can start again."""
    environment = json.loads(env_file.read_text(encoding="utf-8"))
    _die_with_parent(signum)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    child = subprocess.Popen(
        list(command), env=environment, preexec_fn=lambda: _become(user, signum)
    )

    def forward(signum, _frame):
        if child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                   signal.SIGUSR1, signal.SIGUSR2):  # fmt: skip
        signal.signal(signum, forward)
    status = child.wait()
    _end_orphans(0)
    return status if status >= 0 else 128 - status


def children(parent: int) -> list[int]:
    """The pids whose parent is ``parent``, as the kernel lists them; none
    once it has ended (it may end while it is being read)."""
    found = []
    try:
        for task in Path(f"/proc/{parent}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        return found
    return found


def wait_for(url: str, timeout: float = AFTER_TIMEOUT) -> bool:
    """Whether ``url`` answered within ``timeout`` seconds; for
    ``tcp://host:port``, whether the port accepted a connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if url.startswith("tcp://"):
                parts = urlsplit(url)
                socket.create_connection((parts.hostname, parts.port), 2).close()
                return True
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


USAGE = (
    "usage: python -m bot.ops.supervisor exec|reap ENV_FILE [--after URL] "
    "[--user USER] [--stop-signal NAME] -- COMMAND ..."
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] not in ("exec", "reap") or "--" not in argv:
        print(USAGE)
        return 2
    mode, env_file = argv[:2]
    split = argv.index("--")
    options, command = argv[2:split], argv[split + 1 :]
    if len(options) % 2 or not command:
        print(USAGE)
        return 2
    given = dict(zip(options[::2], options[1::2], strict=True))
    try:
        signum = signal.Signals[f"SIG{given.pop('--stop-signal', 'TERM')}"]
    except KeyError:
        print(USAGE)
        return 2
    if set(given) - {"--after", "--user"}:
        print(USAGE)
        return 2
    if "--after" in given:
        wait_for(given["--after"])
    if mode == "reap":
        return reap_program(Path(env_file), command, given.get("--user"), signum)
    exec_program(Path(env_file), command, given.get("--user"), signum)
    return 1


if __name__ == "__main__":
    sys.exit(main())
