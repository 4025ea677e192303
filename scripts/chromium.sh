#!/usr/bin/env bash
# Debian's Chromium for the widget and console browser tests: installed from
# Debian's packages when missing (as root, the way postgres.sh and redis.sh
# install their servers). Prints the browser's path.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "Chromium is missing and installing it needs root: sudo apt-get install chromium" >&2
    exit 1
  fi
  echo "installing chromium from Debian's packages" >&2
  apt-get update -qq >&2
  # --reinstall also brings back a browser whose package is still listed.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall \
    --no-install-recommends chromium >&2
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "Chromium is still missing after apt-get install chromium" >&2
  exit 1
fi
echo "$CHROMIUM"
