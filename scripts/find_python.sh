#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter (Rasa 3.6 refuses 3.11+).
# Order: $PYTHON, pyenv's 3.10, python3.10 on PATH.
set -u

is_310() {
  [ -n "$1" ] && [ -x "$(command -v "$1" 2>/dev/null)" ] &&
    "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null
}

candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -V -r); do
    candidates+=("$(pyenv prefix "$v" 2>/dev/null)/bin/python3.10")
  done
  candidates+=("$(pyenv root 2>/dev/null)"/versions/3.10.*/bin/python3.10)
fi
candidates+=("$HOME"/.pyenv/versions/3.10.*/bin/python3.10 python3.10)

for c in "${candidates[@]}"; do
  if is_310 "$c"; then
    command -v "$c"
    exit 0
  fi
done

if [ -n "${PYTHON:-}" ]; then
  echo "error: PYTHON=$PYTHON is not a Python 3.10 interpreter." >&2
fi
cat >&2 <<'MSG'
error: no Python 3.10 found. Rasa Open Source 3.6 runs on Python 3.8-3.10 only.
Install one and try again, for example:
    pyenv install 3.10.13        # then re-run make
or point the build at an existing interpreter:
    make PYTHON=/path/to/python3.10 test
MSG
exit 1
