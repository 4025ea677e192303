"""Start the action server and the Rasa server together, stop both together."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot import PROJECT_ROOT
from bot.channels.credentials import write_credentials
from bot.settings import Settings, load_settings


def rasa_bin() -> str:
    return str(Path(sys.executable).with_name("rasa"))


def environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(settings.rasa_environment())
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p
    )
    return env


def action_server_command(settings: Settings) -> list[str]:
    return [
        rasa_bin(), "run", "actions", "--actions", "actions",
        "--port", str(settings.action_port),
    ]  # fmt: skip


def rasa_server_command(
    settings: Settings, api_token: str, credentials: Path
) -> list[str]:
    """The HTTP API (/model/parse, /conversations) always needs the token;
    browsers may call Rasa only from the allowed origins."""
    return [
        rasa_bin(), "run",
        "--model", str(settings.model_path),
        "--port", str(settings.rasa_port),
        "--endpoints", str(PROJECT_ROOT / "endpoints.yml"),
        "--credentials", str(credentials),
        "--enable-api", "--auth-token", api_token,
        "--cors", *settings.web.allowed_origins,
    ]  # fmt: skip


def serve(settings: Settings | None = None) -> int:
    """Run both servers until one exits or we are interrupted."""
    settings = settings or load_settings()
    if not settings.model_path.exists():
        print(f"No trained model at {settings.model_path}; run `make run`.")
        return 1
    settings.tracker_db.parent.mkdir(parents=True, exist_ok=True)
    env = environment(settings)
    api_token = settings.api_token or secrets.token_urlsafe(24)
    credentials = write_credentials(
        settings, settings.tracker_db.parent / f"credentials-{settings.rasa_port}.yml"
    )
    processes = [
        subprocess.Popen(action_server_command(settings), cwd=PROJECT_ROOT, env=env),
        subprocess.Popen(
            rasa_server_command(settings, api_token, credentials),
            cwd=PROJECT_ROOT,
            env=env,
        ),
    ]
    print(
        f"Rasa: http://localhost:{settings.rasa_port}/webhooks/rest/webhook  "
        f"actions: http://localhost:{settings.action_port}/webhook",
        flush=True,
    )
    if not settings.api_token:
        print(
            "RASA_API_TOKEN is not set; the HTTP API uses a one-off token for "
            f"this run: {api_token}",
            flush=True,
        )
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
