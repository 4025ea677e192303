#!/usr/bin/env bash
# Debian's nginx for `make run-cluster`, the cluster tests and the benchmark:
# installed from Debian's packages when missing (as root, the way
# postgres.sh and redis.sh install their servers), never by the running
# system. Prints the binary's path.
set -euo pipefail
find_nginx() { command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }
if ! NGINX=$(find_nginx); then
  if [ "$(id -u)" != 0 ]; then
    echo "nginx is missing and installing it needs root: sudo apt-get install nginx-light" >&2
    exit 1
  fi
  echo "installing nginx from Debian's packages" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >&2
  NGINX=$(find_nginx) || { echo "nginx is still missing after apt-get install" >&2; exit 1; }
fi
echo "$NGINX"
