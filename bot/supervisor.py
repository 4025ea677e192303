"""Run the project's processes under supervisord.

supervisord (a kept, widely used supervisor) restarts a process that dies,
with a back-off when it keeps failing at start-up, logs every exit and start,
and stops everything on Ctrl-C or SIGTERM, giving each process time to answer
what it already received. ``supervisorctl`` (or ``python -m bot cluster
reload``) restarts one process at a time.

Each program starts through ``python -m bot.supervisor exec <env file> --
command``: the environment, secrets included, is read from an owner-only
JSON file instead of being written into supervisord's configuration (where
its quoting and ``%`` rules would apply), and the process asks the kernel
to end it if supervisord itself dies, so a killed supervisor leaves nothing
behind.
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

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
    # cores, so the second waits for the first.
    after: str | None = None


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
        command = [sys.executable, "-m", "bot.supervisor", mode, str(env_file)]
        if program.after:
            command += ["--after", program.after]
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
            "stopsignal": "TERM",
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


def run(programs: Sequence[Program], run_dir: Path) -> NoReturn:
    """Become supervisord, in the foreground, with these programs: no parent
    of ours is left whose death could matter, and Ctrl-C or SIGTERM reach
    supervisord itself, which stops every program gracefully."""
    config = write_config(programs, run_dir)
    sys.stdout.flush()
    os.execve(
        supervisord_bin(),
        [supervisord_bin(), "--nodaemon", "--configuration", str(config)],
        _supervisord_environment(),
    )


def _supervisord_environment() -> dict[str, str]:
    """supervisord needs no secrets; each program reads its own env file."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER")
    return {name: os.environ[name] for name in keep if name in os.environ}


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, value)
    except OSError:
        pass


def _die_with_parent() -> None:
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:
        # The parent died between fork and prctl.
        os._exit(1)


def exec_program(env_file: Path, command: Sequence[str]) -> None:
    """Replace this process with ``command`` in the saved environment, ended
    by the kernel should supervisord die."""
    environment = json.loads(env_file.read_text(encoding="utf-8"))
    _die_with_parent()
    os.execvpe(command[0], list(command), environment)


def reap_program(env_file: Path, command: Sequence[str]) -> int:
    """Run ``command`` as our child and wait for it. Signals supervisord
    sends us (TERM to stop, HUP to reload) go on to it. Processes it forked
    and left behind when it died (nginx's workers after a kill -9 of their
    master, still holding the port) are re-parented to us and ended, so the
    restarted program can bind its port again."""
    environment = json.loads(env_file.read_text(encoding="utf-8"))
    _die_with_parent()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    child = subprocess.Popen(
        list(command), env=environment, preexec_fn=_die_with_parent
    )

    def forward(signum, _frame):
        if child.poll() is None:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                   signal.SIGUSR1, signal.SIGUSR2):  # fmt: skip
        signal.signal(signum, forward)
    status = child.wait()
    for pid in children(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.05)
        except ChildProcessError:
            break
    return status if status >= 0 else 128 - status


def children(parent: int) -> list[int]:
    """The pids whose parent is ``parent``, as the kernel lists them."""
    found = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def wait_for(url: str, timeout: float = AFTER_TIMEOUT) -> bool:
    """Whether ``url`` answered within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 3 and argv[2] == "--after":
        wait_for(argv[3])
        del argv[2:4]
    if len(argv) < 4 or argv[0] not in ("exec", "reap") or argv[2] != "--":
        print(
            "usage: python -m bot.supervisor exec|reap ENV_FILE [--after URL] "
            "-- COMMAND ..."
        )
        return 2
    if argv[0] == "reap":
        return reap_program(Path(argv[1]), argv[3:])
    exec_program(Path(argv[1]), argv[3:])
    return 1


if __name__ == "__main__":
    sys.exit(main())
