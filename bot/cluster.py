"""Several Rasa instances behind nginx, sharing PostgreSQL and Redis.

``make run-cluster`` runs this on one machine: PostgreSQL (conversations and
bookings), Redis (Rasa's lock store, so two instances never handle the same
conversation at once), one action server, N Rasa instances and nginx in
front of them on ``RASA_PORT``. PostgreSQL, Redis and nginx come from
Debian's packages, installed by ``scripts/`` when missing. ``DATABASE_URL``
and ``REDIS_URL``, when set, point at existing servers instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bot import PROJECT_ROOT
from bot.serve import api_token_for, start, supervise
from bot.settings import load_settings

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


def nginx_config(listen_port: int, upstream_ports: list[int], prefix: Path) -> str:
    """HTTP to the instance with the fewest requests in flight; socket.io
    stays on one instance per client."""
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstream_ports)
    return f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 2048; }}
http {{
  access_log off;
  client_max_body_size 64k;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  upstream rasa {{
    least_conn;
{servers}    keepalive 64;
  }}
  upstream rasa_socket {{
    ip_hash;
{servers}  }}
  map $http_upgrade $connection_upgrade {{
    default upgrade;
    '' '';
  }}
  server {{
    listen {listen_port};
    location /socket.io/ {{
      proxy_pass http://rasa_socket;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 1h;
    }}
    location / {{
      proxy_pass http://rasa;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
"""


def run_cluster(instances: int = 2) -> int:
    os.environ.update(local_services())
    settings = load_settings()
    if not settings.model_path.exists():
        print(f"No trained model at {settings.model_path}; run `make run`.")
        return 1
    ports = [settings.rasa_port + 1 + i for i in range(instances)]
    prefix = settings.tracker_db.parent / f"nginx-{settings.rasa_port}"
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(nginx_config(settings.rasa_port, ports, prefix))
    nginx = nginx_binary()
    subprocess.run(
        [nginx, "-t", "-q", "-p", str(prefix), "-c", str(config)], check=True
    )
    processes = start(settings, ports, api_token_for(settings), behind_proxy=True)
    processes.append(
        subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"]
        )
    )
    print(
        f"nginx: http://localhost:{settings.rasa_port} -> Rasa on {ports}  "
        f"database: {settings.database_url.split('@')[-1]}  "
        f"locks: {settings.redis_url}",
        flush=True,
    )
    return supervise(processes)
