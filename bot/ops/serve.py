"""The action server, the Rasa server(s) and the demo website, run together
under supervisord (bot/ops/supervisor.py): one that dies is started again, Ctrl-C
stops them all."""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import PROJECT_ROOT
from bot.channels.credentials import write_credentials
from bot.ops import supervisor
from bot.ops.supervisor import CONFIG_FILE, Program
from bot.private_files import kept_secret
from bot.rasa.endpoints import write_endpoints
from bot.settings import PUBLIC_REQUEST_MAX_SIZE, Settings, secret

ACTION_REQUEST_MAX_SIZE = 32 * 1024 * 1024


def environment(settings: Settings) -> dict[str, str]:
    """What every program starts with: this environment, with the services
    these settings name (``bot cluster`` may have chosen them)."""
    env = dict(os.environ)
    env["DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    # No chat message needs more than a few kilobytes; Sanic's default is 100 MB.
    # The action server gets its own, larger limit (action_server_environment).
    env.setdefault("SANIC_REQUEST_MAX_SIZE", str(PUBLIC_REQUEST_MAX_SIZE))
    # One message is a tiny tensor: thread pools cost more than they give,
    # and several server processes share two cores (docs/production.md,
    # "Profiling and speed-ups").
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


def action_server_command(settings: Settings, port: int | None = None) -> list[str]:
    """rasa-sdk's own entry point: ``rasa run actions`` runs the same server but
    first imports Rasa and TensorFlow, which cost the action server about
    400 MB and seconds of start-up for nothing."""
    return [
        sys.executable, "-m", "rasa_sdk", "--actions", "actions",
        "--port", str(port or settings.action_port),
    ]  # fmt: skip


def rasa_server_command(settings: Settings, config_dir: Path, port: int) -> list[str]:
    """The HTTP API (/model/parse, /conversations) always needs the token,
    which reaches the process in its environment (``bot.rasa.server`` hands
    it to Rasa), never on a command line ``ps`` shows to every user; browsers
    may call Rasa only from the allowed origins."""
    return [
        sys.executable, "-m", "bot.rasa.server", "run",
        "--model", str(settings.model_path),
        "--port", str(port),
        "--endpoints", str(config_dir / "endpoints.yml"),
        "--credentials", str(config_dir / "credentials.yml"),
        "--enable-api",
        "--cors", *settings.web.allowed_origins,
    ]  # fmt: skip


def write_config(settings: Settings, config_dir: Path) -> Path:
    """endpoints.yml and credentials.yml for this run, from the settings."""
    write_endpoints(settings, config_dir / "endpoints.yml")
    write_credentials(settings, config_dir / "credentials.yml")
    return config_dir


def run_dir(settings: Settings) -> Path:
    """Where one deployment keeps its generated files: endpoints, credentials,
    supervisord's configuration and socket."""
    return settings.tracker_db.parent / f"run-{settings.rasa_port}"


def programs(
    settings: Settings,
    rasa_ports: Sequence[int],
    api_token: str,
    action_ports: Sequence[int] = (),
    behind_proxy: bool = False,
) -> list[Program]:
    """The action server(s), one Rasa server per port, and the demo website.

    ``action_ports``: several action servers (behind nginx, which then owns
    ``ACTION_PORT``); empty for one action server on ``ACTION_PORT``.
    ``behind_proxy``: each request passed one proxy (nginx), whose
    ``X-Forwarded-For`` names the client the flood limits count."""
    settings.tracker_db.parent.mkdir(parents=True, exist_ok=True)
    config_dir = write_config(settings, run_dir(settings))
    env = environment(settings)
    actions_env = action_server_environment(env, settings)
    if action_ports:
        actions = [
            Program(f"actions-{i}", action_server_command(settings, port), actions_env)
            for i, port in enumerate(action_ports, start=1)
        ]
    else:
        actions = [Program("actions", action_server_command(settings), actions_env)]
    rasa_env = {
        **env,
        "RASA_API_TOKEN": api_token,
        "WIDGET_SECRET": widget_secret(settings),
    }
    if behind_proxy:
        rasa_env.setdefault("SANIC_PROXIES_COUNT", "1")
    rasa_env.pop("RASA_API_TOKEN_FILE", None)
    rasa_env.pop("WIDGET_SECRET_FILE", None)
    names = (
        ["rasa"]
        if len(rasa_ports) == 1
        else [f"rasa-{i}" for i in range(1, len(rasa_ports) + 1)]
    )
    rasa = [
        Program(
            name,
            rasa_server_command(settings, config_dir, port),
            rasa_env,
            after=f"http://127.0.0.1:{rasa_ports[0]}/" if i else None,
        )
        for i, (name, port) in enumerate(zip(names, rasa_ports, strict=True))
    ]
    # The console speaks to Rasa's HTTP API during live chats.
    website = Program(
        "web", [sys.executable, "-m", "bot.web"], {**env, "RASA_API_TOKEN": api_token}
    )
    return [*actions, *rasa, website]


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


def migrate(settings: Settings) -> int:
    """The bookings database at the newest schema (bot/migrations), before any
    server starts: a database that cannot be reached or upgraded is reported
    here, not as every booking going to the spool."""
    from sqlalchemy.engine import make_url

    from bot import migrations
    from bot.db import make_engine

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    engine = make_engine(settings.database_url)
    try:
        revision = migrations.upgrade(engine)
    except Exception as error:  # noqa: BLE001 - said plainly, then stop
        print(f"Could not bring {where} to the newest schema: {error}")
        return 1
    finally:
        engine.dispose()
    print(f"database {where}: schema {revision}", flush=True)
    return 0


def serve(settings: Settings) -> int:
    """Run the servers under supervisord until interrupted."""
    if not settings.model_path.exists():
        print(f"No trained model at {settings.model_path}; run `make run`.")
        return 1
    if migrate(settings):
        return 1
    settings = with_action_token(settings)
    processes = programs(settings, [settings.rasa_port], api_token_for(settings))
    print(
        f"Rasa: http://localhost:{settings.rasa_port}/webhooks/rest/webhook  "
        f"actions: http://localhost:{settings.action_port}/webhook  "
        f"website with the chat widget: http://localhost:{settings.web.port}/\n"
        "supervisord restarts any process that stops; Ctrl-C stops them all. "
        f"Status: .venv/bin/supervisorctl -c {run_dir(settings) / CONFIG_FILE} "
        "status",
        flush=True,
    )
    return supervisor.run(processes, run_dir(settings))


def run_one(name: str, settings: Settings) -> int:
    """Become one of the programs (``rasa``, ``actions`` or ``web``), for a
    container whose orchestrator supervises it. Replicas must share their
    secrets, so none is made up here."""
    shared = {
        "RASA_API_TOKEN": settings.api_token,
        "ACTION_SERVER_TOKEN": settings.action_token,
        "WIDGET_SECRET": secret("WIDGET_SECRET"),
    }
    missing = [key for key, value in shared.items() if not value]
    if missing:
        print(f"Set {', '.join(missing)}: every replica needs the same value.")
        return 2
    for program in programs(settings, [settings.rasa_port], settings.api_token):
        if program.name == name:
            sys.stdout.flush()
            os.execvpe(program.command[0], list(program.command), program.environment)
    print(f"No program called {name!r}; choose rasa, actions or web.")
    return 2


def shell(settings: Settings) -> int:
    """Chat in this terminal: the action server in the background, rasa shell."""
    settings = with_action_token(settings)
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
            sys.executable, "-m", "bot.rasa.server", "shell",
            "--model", str(settings.model_path),
            "--endpoints", str(config_dir / "endpoints.yml"),
        ]  # fmt: skip
        return subprocess.run(command, cwd=PROJECT_ROOT, env=env).returncode
    finally:
        actions.terminate()
        actions.wait(timeout=15)
