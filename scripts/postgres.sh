#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests and print its URL.
# Installs Debian's postgresql package when the server binaries are missing.
# Usage: eval "$(scripts/postgres.sh start)"   |   scripts/postgres.sh stop
#        scripts/postgres.sh prepare: install and initdb only, stop a server
#        pg_ctl started on that directory, print the binaries' directory
#        (bot cluster then runs the server under supervisord).
set -euo pipefail
PORT="${PG_TEST_PORT:-55432}"
DATA="${PG_TEST_DIR:-/tmp/dn-postgres-test}"
RUN_AS=()
[ "$(id -u)" = 0 ] && RUN_AS=(runuser -u postgres --)

find_bin() {
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

install_and_init() {
  if ! BIN=$(find_bin); then
    echo "installing postgresql from Debian's packages" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    BIN=$(find_bin)
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"; chmod 700 "$DATA"; [ "$(id -u)" = 0 ] && chown postgres "$DATA"
    "${RUN_AS[@]}" "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
}

case "${1:-start}" in
  prepare)
    install_and_init
    if "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast stop >&2
    fi
    echo "$BIN"
    ;;
  start)
    install_and_init
    if ! "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" -w -l "$DATA/server.log" \
        -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1" start >&2
    fi
    echo "export TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$PORT/postgres"
    ;;
  stop)
    BIN=$(find_bin) && "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast stop >&2 || true
    ;;
esac
