"""Several Rasa instances behind nginx, sharing PostgreSQL and Redis.

``make run-cluster`` runs this on one machine: PostgreSQL (conversations and
bookings), Redis (Rasa's lock store, so two instances never handle the same
conversation at once), N Rasa instances and nginx in
front of them on ``RASA_PORT``, all under supervisord (bot/ops/supervisor.py).
Two action servers sit behind the same nginx on ``ACTION_PORT``, so neither
is a single point of failure. PostgreSQL, Redis and nginx come from
Debian's packages, installed by ``scripts/`` when missing; PostgreSQL keeps
its files in the run directory (``var/run-<port>/postgres``).
``DATABASE_URL`` and ``REDIS_URL``, when set, point at existing servers
instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bot import PROJECT_ROOT
from bot.ops import supervisor
from bot.ops.serve import (
    api_token_for,
    migrate,
    programs,
    run_dir,
    with_action_token,
)
from bot.ops.supervisor import Program, supervisorctl, wait_for
from bot.settings import Settings

LAYOUT_FILE = "cluster.json"
# How long nginx leaves out an instance whose connection failed.
FAIL_SECONDS = 2
# How long a drained instance's requests already in nginx get to finish.
DRAIN_SECONDS = 1.0
START_TIMEOUT = 300

SCRIPTS = PROJECT_ROOT / "scripts"


def _script(script: str, command: str, env: dict[str, str]) -> str:
    """Run ``scripts/<script> <command>``; the last line it printed."""
    output = subprocess.run(
        [str(SCRIPTS / script), command],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not output:
        raise SystemExit(f"scripts/{script} {command} printed nothing")
    return output.splitlines()[-1]


def exported_url(script: str, env: dict[str, str]) -> str:
    """Start a server with ``scripts/<script> start``; the URL it exports."""
    match = re.search(r"=(\S+)$", _script(script, "start", env))
    if not match:
        raise SystemExit(f"scripts/{script} start printed no URL")
    return match.group(1)


def supervised_services(
    settings: Settings, directory: Path
) -> tuple[dict[str, str], list[Program]]:
    """PostgreSQL and Redis for this cluster, supervised with the rest (a
    killed database restarts like any other process), unless ``DATABASE_URL``
    names a PostgreSQL server / ``REDIS_URL`` a Redis server elsewhere. The
    database files stay in the run directory between runs."""
    urls: dict[str, str] = {}
    services: list[Program] = []
    path = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if not settings.database_url.startswith("postgresql"):
        port, data = settings.cluster_postgres_port, directory / "postgres"
        directory.mkdir(parents=True, exist_ok=True)
        where = {"PG_TEST_PORT": str(port), "PG_TEST_DIR": str(data)}
        bin_dir = _script("postgres.sh", "prepare", where)
        listen = ["-k", "/tmp", "-c", "listen_addresses=127.0.0.1"]
        services.append(
            Program(
                "postgres",
                [f"{bin_dir}/postgres", "-D", str(data), "-p", str(port), *listen],
                path,
                stop_wait=30,
                priority=10,
                # Backends left by a killed postmaster hold its shared memory.
                reap=True,
                user="postgres" if os.getuid() == 0 else None,
                stop_signal="INT",
            )
        )
        urls["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    if not settings.redis_url:
        port = settings.cluster_redis_port
        server = _script("redis.sh", "prepare", {"REDIS_TEST_PORT": str(port)})
        services.append(
            Program(
                "redis",
                [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no"],  # fmt: skip
                path,
                stop_wait=10,
                priority=10,
            )
        )
        urls["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    return urls, services


def nginx_binary() -> str:
    """nginx as scripts/nginx.sh installed it (``make run-cluster``, ``make
    e2e`` and ``make bench`` run that first); the running system installs
    nothing."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if not found:
        raise SystemExit("nginx is missing: run scripts/nginx.sh (as root) first")
    return found


def nginx_config(
    listen: str,
    rasa: Sequence[str],
    prefix: Path,
    actions_listen: str | None = None,
    actions: Sequence[str] = (),
    down: Sequence[str] = (),
) -> str:
    """nginx in front of the Rasa instances and the action servers.

    HTTP goes to the instance with the fewest requests in flight; socket.io
    stays on one instance per client. A request whose connection fails or
    times out goes to the next instance; a message already sent to Rasa is
    never sent twice (nginx retries POSTs only when the upstream never got
    them), while an action call is (the actions allow it). An
    instance that failed is left out for ``FAIL_SECONDS`` and then tried
    again: open-source nginx's health check is the traffic itself. ``down``
    addresses take no new requests (``bot cluster reload``). Addresses are
    ``host:port``; ``bot cluster`` uses the loopback, ``deploy/compose``
    the services' names."""

    def servers(addresses: Sequence[str]) -> str:
        return "".join(
            f"    server {a} max_fails=1 fail_timeout={FAIL_SECONDS}s"
            f"{' down' if a in down else ''};\n"
            for a in addresses
        )

    failover = f"""      proxy_next_upstream error timeout;
      proxy_next_upstream_tries {max(2, len(rasa))};
      proxy_connect_timeout 2s;
"""
    action_server = ""
    if actions_listen and actions:
        action_server = f"""  upstream actions {{
    least_conn;
{servers(actions)}    keepalive 16;
  }}
  server {{
    listen {actions_listen};
    client_max_body_size 32m;
    # A call is held in memory whole (never on disk), so that one whose
    # action server dies before answering can be sent to the other: every
    # action may run twice (the submits and the handoff email are
    # deduplicated by the store, the rest only read or ask).
    client_body_buffer_size 32m;
    location / {{
      proxy_pass http://actions;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_next_upstream error timeout non_idempotent;
      proxy_next_upstream_tries 2;
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
    }}
  }}
"""
    return f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 2048; }}
http {{
  access_log off;
  client_max_body_size 64k;
  # Bodies and answers stay in memory: nginx's workers may not write where
  # its master can, and nothing here is large enough to need a disk.
  client_body_buffer_size 64k;
  proxy_max_temp_file_size 0;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  upstream rasa {{
    least_conn;
{servers(rasa)}    keepalive 64;
  }}
  upstream rasa_socket {{
    ip_hash;
{servers(rasa)}  }}
  map $http_upgrade $connection_upgrade {{
    default upgrade;
    '' '';
  }}
  server {{
    listen {listen};
    location /socket.io/ {{
      proxy_pass http://rasa_socket;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 1h;
{failover}    }}
    location / {{
      proxy_pass http://rasa;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
{failover}    }}
  }}
{action_server}}}
"""


@dataclass(frozen=True)
class Layout:
    """Ports and paths of one running cluster, kept in its run directory so
    ``bot cluster reload`` finds them."""

    listen_port: int
    rasa_ports: list[int]
    action_port: int
    action_ports: list[int]
    prefix: str

    @classmethod
    def of(cls, settings: Settings, instances: int, actions: int) -> Layout:
        return cls(
            listen_port=settings.rasa_port,
            rasa_ports=[settings.rasa_port + 1 + i for i in range(instances)],
            action_port=settings.action_port,
            action_ports=[settings.action_port + 1 + i for i in range(actions)],
            prefix=str(run_dir(settings) / "nginx"),
        )

    def nginx_config(self, down: Sequence[int] = ()) -> str:
        def loopback(ports: Sequence[int]) -> list[str]:
            return [f"127.0.0.1:{p}" for p in ports]

        return nginx_config(
            str(self.listen_port),
            loopback(self.rasa_ports),
            Path(self.prefix),
            f"127.0.0.1:{self.action_port}",
            loopback(self.action_ports),
            loopback(down),
        )

    def save(self, directory: Path) -> None:
        (directory / LAYOUT_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: Path) -> Layout:
        return cls(**json.loads((directory / LAYOUT_FILE).read_text()))


def write_nginx_config(layout: Layout, down: Sequence[int] = ()) -> Path:
    prefix = Path(layout.prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(layout.nginx_config(down))
    return config


def run_cluster(instances: int, actions: int, settings: Settings) -> int:
    if not settings.model_path.exists():
        print(f"No trained model at {settings.model_path}; run `make run`.")
        return 1
    urls, services = supervised_services(settings, run_dir(settings))
    # The cluster's own PostgreSQL starts under supervisord: its action
    # servers migrate it on their first use of it.
    if "DATABASE_URL" not in urls and migrate(settings):
        return 1
    settings = with_action_token(
        replace(
            settings,
            database_url=urls.get("DATABASE_URL", settings.database_url),
            redis_url=urls.get("REDIS_URL", settings.redis_url),
        )
    )
    layout = Layout.of(settings, instances, actions)
    config = write_nginx_config(layout)
    nginx = nginx_binary()
    subprocess.run(
        [nginx, "-t", "-q", "-p", layout.prefix, "-c", str(config)], check=True
    )
    processes = programs(
        settings,
        layout.rasa_ports,
        api_token_for(settings),
        action_ports=layout.action_ports,
        behind_proxy=True,
    )
    if "DATABASE_URL" in urls:
        # Rasa opens its tracker store at start-up; the database goes first.
        database = f"tcp://127.0.0.1:{settings.cluster_postgres_port}"
        processes = [replace(p, after=p.after or database) for p in processes]
    processes = [*services, *processes]
    processes.append(
        Program(
            "nginx",
            [nginx, "-p", layout.prefix, "-c", str(config), "-g", "daemon off;"],
            {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            stop_wait=10,
            # Reloads its configuration on HUP (bot cluster reload).
            priority=100,
            reap=True,
        )
    )
    directory = run_dir(settings)
    layout.save(directory)
    print(
        f"nginx: http://localhost:{settings.rasa_port} -> Rasa on "
        f"{layout.rasa_ports}, actions on {layout.action_ports}  "
        f"database: {settings.database_url.split('@')[-1]}  "
        f"locks: {settings.redis_url}\n"
        "supervisord restarts any process that stops; Ctrl-C stops them all; "
        "`python -m bot cluster reload` loads a new model instance by instance.",
        flush=True,
    )
    return supervisor.run(processes, directory)


def reload(settings: Settings, timeout: float = START_TIMEOUT) -> int:
    """Restart the Rasa instances one at a time, each out of nginx while it
    drains and loads the model again, so no request fails."""
    directory = run_dir(settings)
    try:
        layout = Layout.load(directory)
    except FileNotFoundError:
        print(f"No cluster runs from {directory}; start one with `make run-cluster`.")
        return 1
    for i, port in enumerate(layout.rasa_ports, start=1):
        name = f"rasa-{i}"
        print(f"{name}: out of nginx, draining, restarting", flush=True)
        write_nginx_config(layout, down=[port])
        supervisorctl(directory, "signal", "HUP", "nginx")
        # nginx's old worker finishes the requests it already passed on.
        time.sleep(DRAIN_SECONDS)
        supervisorctl(directory, "restart", name)
        # Rasa answers its unauthenticated root route once the model is loaded.
        if not wait_for(f"http://127.0.0.1:{port}/", timeout):
            write_nginx_config(layout)
            supervisorctl(directory, "signal", "HUP", "nginx")
            print(f"{name} did not come back within {timeout:.0f} s; stopped.")
            return 1
        write_nginx_config(layout)
        supervisorctl(directory, "signal", "HUP", "nginx")
        print(f"{name}: serving the model at {settings.model_path}", flush=True)
    return 0


def compose_nginx_config() -> str:
    """deploy/compose/nginx.conf: the same front as ``bot cluster``, in front
    of docker-compose's services (tests/unit/test_deploy.py keeps them equal)."""
    return nginx_config(
        "5005",
        ["rasa-1:5005", "rasa-2:5005"],
        Path("/tmp"),
        "5055",
        ["actions-1:5055", "actions-2:5055"],
    )
