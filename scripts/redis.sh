#!/usr/bin/env bash
# Start a throwaway Redis server (the lock store for several Rasa processes)
# and print its URL. Installs Debian's redis-server package when missing.
# Usage: eval "$(scripts/redis.sh start)"   |   scripts/redis.sh stop
#        scripts/redis.sh prepare: install only, stop a server this script
#        started on that port, print redis-server's path.
set -euo pipefail
PORT="${REDIS_TEST_PORT:-56379}"
PIDFILE="/tmp/dn-redis-$PORT.pid"

install() {
  if ! command -v redis-server >/dev/null; then
    echo "installing redis-server from Debian's packages" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  fi
}

case "${1:-start}" in
  prepare)
    install
    [ -f "$PIDFILE" ] && redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    command -v redis-server
    ;;
  start)
    install
    if ! redis-cli -p "$PORT" ping >/dev/null 2>&1; then
      redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize yes --pidfile "$PIDFILE" --logfile "/tmp/dn-redis-$PORT.log" >&2
      for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    fi
    echo "export TEST_REDIS_URL=redis://127.0.0.1:$PORT/0"
    ;;
  stop)
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    ;;
esac
