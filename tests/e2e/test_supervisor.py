"""bot.ops.supervisor on its own: real supervisord, real processes, real signals.

A killed supervisord is started again with its programs; the wrapper every
program starts through drops to another user and refuses bad arguments.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.ops.localhost import free_port
from bot.ops.supervisor import Program, children, config_text, supervisorctl, wait_for

GUARDIAN = """
import sys
from pathlib import Path
from bot.ops.supervisor import Program, run
port, directory = sys.argv[1], Path(sys.argv[2])
program = Program(
    "web", [sys.executable, "-m", "http.server", port, "--bind", "127.0.0.1"],
    {"PATH": "/usr/bin:/bin"}, stop_wait=5,
)
sys.exit(run([program], directory))
"""


def pid_of(run_dir: Path, name: str) -> int | None:
    parts = supervisorctl(run_dir, "status", name, check=False).stdout.split()
    if len(parts) >= 4 and parts[1] == "RUNNING":
        return int(parts[3].rstrip(","))
    return None


def until(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {condition}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended; only its parent has not yet collected it. The
    # process may also be gone between the two looks.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.fixture
def guarded(tmp_path):
    port = free_port()
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", GUARDIAN, str(port), str(tmp_path)],
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    until(lambda: pid_of(tmp_path, "web"))
    yield process, tmp_path, port
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_killed_supervisord_comes_back_with_its_programs(guarded):
    process, run_dir, port = guarded
    supervisord = int((run_dir / "supervisord.pid").read_text())
    program = pid_of(run_dir, "web")
    assert wait_for(f"http://127.0.0.1:{port}/", 10)
    os.kill(supervisord, signal.SIGKILL)
    # The orphaned program is stopped before its successor needs the port.
    until(lambda: not alive(program), 10)
    new = until(lambda: pid_of(run_dir, "web"))
    assert new != program
    assert int((run_dir / "supervisord.pid").read_text()) != supervisord
    assert wait_for(f"http://127.0.0.1:{port}/", 10)
    assert process.poll() is None
    assert "supervisord ended by signal 9" in (run_dir / "run.log").read_text()


def test_sigterm_stops_supervisord_and_its_programs_for_good(guarded):
    process, run_dir, _port = guarded
    supervisord = int((run_dir / "supervisord.pid").read_text())
    program = pid_of(run_dir, "web")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not alive(supervisord)
    assert not alive(program)


def write_env(path: Path) -> Path:
    path.write_text(json.dumps({"PATH": "/usr/bin:/bin"}))
    return path


@pytest.mark.skipif(os.getuid() != 0, reason="dropping to another user needs root")
@pytest.mark.parametrize("mode", ["exec", "reap"])
def test_a_program_runs_as_its_user(tmp_path, mode):
    import pwd

    nobody = pwd.getpwnam("nobody").pw_uid
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.ops.supervisor",
            mode,
            str(write_env(tmp_path / "e")),
            "--user",
            "nobody",
            "--",
            "id",
            "-u",
        ],  # fmt: skip
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(nobody)


@pytest.mark.parametrize(
    "arguments",
    [
        ["exec", "ENV"],
        [
            "exec",
            "ENV",
            "--",
        ],
        ["run", "ENV", "--", "true"],
        ["exec", "ENV", "--user", "--", "true"],
        ["exec", "ENV", "--colour", "red", "--", "true"],
        ["exec", "ENV", "--stop-signal", "NOPE", "--", "true"],
    ],
)
def test_bad_wrapper_arguments_get_the_usage(tmp_path, arguments):
    arguments = [str(write_env(tmp_path / "e")) if a == "ENV" else a for a in arguments]
    result = subprocess.run(
        [sys.executable, "-m", "bot.ops.supervisor", *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout.startswith("usage:")


def test_reap_returns_the_programs_exit_status(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.ops.supervisor",
            "reap",
            str(write_env(tmp_path / "e")),
            "--",
            "sh",
            "-c",
            "sleep 30 & exit 3",
        ],  # fmt: skip
        cwd=PROJECT_ROOT,
        timeout=30,
    )
    # The background sleep it left behind was ended, not waited for.
    assert result.returncode == 3


def test_a_database_program_is_stopped_fast_and_as_its_user(tmp_path):
    text = config_text(
        [Program("postgres", ["postgres"], {}, reap=True, user="postgres",
                 stop_signal="INT")],  # fmt: skip
        tmp_path,
    )
    assert "stopsignal=INT" in text
    assert "--user postgres --stop-signal INT -- postgres" in text


def test_wait_for_a_port():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert wait_for(f"tcp://127.0.0.1:{port}", 5)
    assert not wait_for(f"tcp://127.0.0.1:{port}", 1)


def test_children_lists_this_process_children():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in children(os.getpid())
    finally:
        child.kill()
        child.wait()
