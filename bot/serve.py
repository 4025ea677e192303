"""Start the action server, the Rasa server(s) and the demo website together,
stop them together."""

from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bot import PROJECT_ROOT
from bot.channels.credentials import write_credentials
from bot.endpoints import write_endpoints
from bot.private_files import kept_secret
from bot.settings import Settings, load_settings, secret

PUBLIC_REQUEST_MAX_SIZE = 64 * 1024
ACTION_REQUEST_MAX_SIZE = 32 * 1024 * 1024


def rasa_bin() -> str:
    return str(Path(sys.executable).with_name("rasa"))


def environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    # No chat message needs more than a few kilobytes; Sanic's default is 100 MB.
    # The action server gets its own, larger limit (action_server_environment).
    env.setdefault("SANIC_REQUEST_MAX_SIZE", str(PUBLIC_REQUEST_MAX_SIZE))
    # One message is a tiny tensor: thread pools cost more than they give,
    # and several server processes share two cores (see README, profile).
    env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p
    )
    return env


def action_server_environment(
    env: dict[str, str], settings: Settings | None = None
) -> dict[str, str]:
    """Rasa posts the conversation and the domain on action calls, so the
    public 64 KB cap once refused every action after a dozen turns. The
    action server is internal: it keeps a cap, but one no session reaches,
    listens on ``ACTION_HOST`` (loopback by default) and takes calls only
    with ``ACTION_SERVER_TOKEN`` (rasa_sdk_plugins)."""
    env = {**env, "SANIC_REQUEST_MAX_SIZE": str(ACTION_REQUEST_MAX_SIZE)}
    if settings is not None:
        env["SANIC_HOST"] = settings.action_host
        if settings.action_token:
            env["ACTION_SERVER_TOKEN"] = settings.action_token
    return env


def with_action_token(settings: Settings) -> Settings:
    """The settings with an action server secret: the configured one, or a
    new one for this run shared by Rasa and the action server."""
    if settings.action_token:
        return settings
    return dataclasses.replace(settings, action_token=secrets.token_urlsafe(32))


def action_server_command(settings: Settings) -> list[str]:
    """rasa-sdk's own entry point: ``rasa run actions`` runs the same server but
    first imports Rasa and TensorFlow, which cost the action server about
    400 MB and seconds of start-up for nothing."""
    return [
        sys.executable, "-m", "rasa_sdk", "--actions", "actions",
        "--port", str(settings.action_port),
    ]  # fmt: skip


def rasa_server_command(settings: Settings, config_dir: Path, port: int) -> list[str]:
    """The HTTP API (/model/parse, /conversations) always needs the token,
    which reaches the process in its environment (``bot.rasa_server`` hands
    it to Rasa), never on a command line ``ps`` shows to every user; browsers
    may call Rasa only from the allowed origins."""
    return [
        sys.executable, "-m", "bot.rasa_server", "run",
        "--model", str(settings.model_path),
        "--port", str(port),
        "--endpoints", str(config_dir / "endpoints.yml"),
        "--credentials", str(config_dir / "credentials.yml"),
        # "=" form: a token may start with "-", which argparse would take
        # for an option.
        "--enable-api",
        "--cors", *settings.web.allowed_origins,
    ]  # fmt: skip


def write_config(settings: Settings, config_dir: Path) -> Path:
    """endpoints.yml and credentials.yml for this run, from the settings."""
    write_endpoints(settings, config_dir / "endpoints.yml")
    write_credentials(settings, config_dir / "credentials.yml")
    return config_dir


def wait_until_up(port: int, process: subprocess.Popen, timeout: float = 300) -> bool:
    """Rasa answers its unauthenticated root route once the model is loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def start(
    settings: Settings,
    rasa_ports: Sequence[int],
    api_token: str,
    behind_proxy: bool = False,
) -> list[subprocess.Popen]:
    """Action server, one Rasa server per port, and the demo website.

    Rasa instances start one after the other: loading a model takes both
    cores, so the first one answers sooner when the others wait for it.
    ``behind_proxy``: each request passed one proxy (nginx), whose
    ``X-Forwarded-For`` names the client the flood limits count."""
    settings = with_action_token(settings)
    settings.tracker_db.parent.mkdir(parents=True, exist_ok=True)
    config_dir = write_config(
        settings, settings.tracker_db.parent / f"run-{settings.rasa_port}"
    )
    env = environment(settings)

    def run(command: list[str], env: dict[str, str] = env) -> subprocess.Popen:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)

    processes = [
        run(
            action_server_command(settings),
            action_server_environment(env, settings),
        ),
        run([sys.executable, "-m", "bot.web"]),
    ]
    rasa_env = {
        **env,
        "RASA_API_TOKEN": api_token,
        "WIDGET_SECRET": widget_secret(settings),
    }
    if behind_proxy:
        rasa_env.setdefault("SANIC_PROXIES_COUNT", "1")
    rasa_env.pop("RASA_API_TOKEN_FILE", None)
    rasa_env.pop("WIDGET_SECRET_FILE", None)
    for i, port in enumerate(rasa_ports):
        rasa = run(rasa_server_command(settings, config_dir, port), rasa_env)
        processes.append(rasa)
        if i + 1 < len(rasa_ports) and not wait_until_up(port, rasa):
            break
    return processes


def widget_secret(settings: Settings) -> str:
    """The key that signs the widget's conversation ids: ``WIDGET_SECRET``
    (or its ``_FILE``), else one kept next to the databases, so a widget's
    conversation survives a restart and every instance accepts its id."""
    return secret("WIDGET_SECRET") or kept_secret(
        settings.tracker_db.parent / "widget-secret"
    )


def api_token_for(settings: Settings) -> str:
    if settings.api_token:
        return settings.api_token
    token = secrets.token_urlsafe(24)
    print(
        "RASA_API_TOKEN is not set; the HTTP API uses a one-off token for "
        f"this run: {token}",
        flush=True,
    )
    return token


def supervise(processes: Sequence[subprocess.Popen]) -> int:
    """Wait until one process exits or we are interrupted, then stop them all."""
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0 if stopping else 1


def serve(settings: Settings | None = None) -> int:
    """Run the servers until one exits or we are interrupted."""
    settings = settings or load_settings()
    if not settings.model_path.exists():
        print(f"No trained model at {settings.model_path}; run `make run`.")
        return 1
    processes = start(settings, [settings.rasa_port], api_token_for(settings))
    print(
        f"Rasa: http://localhost:{settings.rasa_port}/webhooks/rest/webhook  "
        f"actions: http://localhost:{settings.action_port}/webhook  "
        f"website with the chat widget: http://localhost:{settings.web.port}/",
        flush=True,
    )
    return supervise(processes)


def shell(settings: Settings | None = None) -> int:
    """Chat in this terminal: the action server in the background, rasa shell."""
    settings = with_action_token(settings or load_settings())
    config_dir = write_config(settings, settings.tracker_db.parent / "run-shell")
    env = environment(settings)
    actions = subprocess.Popen(
        action_server_command(settings),
        cwd=PROJECT_ROOT,
        env=action_server_environment(env, settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        command = [
            rasa_bin(), "shell", "--model", str(settings.model_path),
            "--endpoints", str(config_dir / "endpoints.yml"),
        ]  # fmt: skip
        return subprocess.run(command, cwd=PROJECT_ROOT, env=env).returncode
    finally:
        actions.terminate()
        actions.wait(timeout=15)
