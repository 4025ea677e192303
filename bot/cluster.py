"""Several Rasa instances behind nginx, sharing PostgreSQL and Redis.

``make run-cluster`` runs this on one machine: PostgreSQL (conversations and
bookings), Redis (Rasa's lock store, so two instances never handle the same
conversation at once), N Rasa instances and nginx in
front of them on ``RASA_PORT``, all under supervisord (bot/supervisor.py).
Two action servers sit behind the same nginx on ``ACTION_PORT``, so neither
is a single point of failure. PostgreSQL, Redis and nginx come from
Debian's packages, installed by ``scripts/`` when missing. ``DATABASE_URL``
and ``REDIS_URL``, when set, point at existing servers instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bot import PROJECT_ROOT, supervisor
from bot.serve import api_token_for, programs, run_dir, with_action_token
from bot.settings import Settings, load_settings
from bot.supervisor import Program, supervisorctl, wait_for

LAYOUT_FILE = "cluster.json"
# How long nginx leaves out an instance whose connection failed.
FAIL_SECONDS = 2
# How long a drained instance's requests already in nginx get to finish.
DRAIN_SECONDS = 1.0
START_TIMEOUT = 300

SCRIPTS = PROJECT_ROOT / "scripts"


def _exported_url(script: str, env: dict[str, str]) -> str:
    """Run ``scripts/<script> start`` and return the URL it exports."""
    output = subprocess.run(
        [str(SCRIPTS / script), "start"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"=(\S+)\s*$", output.strip())
    if not match:
        raise SystemExit(f"{script} printed no URL: {output!r}")
    return match.group(1)


def local_services() -> dict[str, str]:
    """PostgreSQL and Redis on this machine, unless the environment names them."""
    urls = {}
    if not os.environ.get("DATABASE_URL"):
        urls["DATABASE_URL"] = _exported_url(
            "postgres.sh",
            {"PG_TEST_PORT": "55433", "PG_TEST_DIR": "/tmp/dn-cluster-postgres"},
        )
    if not os.environ.get("REDIS_URL"):
        urls["REDIS_URL"] = _exported_url("redis.sh", {"REDIS_TEST_PORT": "56380"})
    return urls


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    print("installing nginx from Debian's packages", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "nginx-light"], check=True, env=env
    )
    return shutil.which("nginx") or "/usr/sbin/nginx"


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
    times out goes to the next instance; one already sent is never sent
    twice (nginx retries POSTs only when the upstream never got them). An
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
    location / {{
      proxy_pass http://actions;
      # Rasa's calls carry the conversation: streamed on, never spooled.
      proxy_request_buffering off;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_next_upstream error timeout;
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


def run_cluster(instances: int = 2, actions: int = 2) -> int:
    os.environ.update(local_services())
    settings = with_action_token(load_settings())
    if not settings.model_path.exists():
        print(f"No trained model at {settings.model_path}; run `make run`.")
        return 1
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


def reload(settings: Settings | None = None, timeout: float = START_TIMEOUT) -> int:
    """Restart the Rasa instances one at a time, each out of nginx while it
    drains and loads the model again, so no request fails."""
    settings = settings or load_settings()
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
    of docker-compose's services (tests/test_deploy.py keeps them equal)."""
    return nginx_config(
        "5005",
        ["rasa-1:5005", "rasa-2:5005"],
        Path("/tmp"),
        "5055",
        ["actions-1:5055", "actions-2:5055"],
    )
