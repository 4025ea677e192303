"""`rasa` with the project's changes to it (bot/rasa/extensions.py) applied:
`python -m bot.rasa.server run|shell|test ...`. Every entry point that runs
Rasa goes through here, so what the tests run is what production runs."""

from __future__ import annotations

import sys

# TensorFlow's TFLite helpers import JAX when it is installed (TensorFlow
# 2.12 requires it) inside ``try/except ImportError``, for converting JAX
# models, which Rasa never does. Not importing it saves about 65 MB per Rasa
# process (docs/production.md, "Profiling and speed-ups").
if "jax" not in sys.modules:
    sys.modules["jax"] = None

from bot import private_logs  # noqa: E402
from bot.rasa.install import install  # noqa: E402
from bot.settings import load_settings  # noqa: E402


def with_auth_token(argv: list[str]) -> list[str]:
    """``argv`` with the HTTP API's token from ``RASA_API_TOKEN`` (or its
    ``_FILE``): given to Rasa in-process, so it is never in the process's
    command line. The "=" form: a token may start with "-"."""
    from bot.settings import secret

    token = secret("RASA_API_TOKEN")
    if "--enable-api" not in argv or any(a.startswith("--auth-token") for a in argv):
        return argv
    return [*argv, f"--auth-token={token}"] if token else argv


def main() -> None:
    sys.argv = with_auth_token(sys.argv)
    private_logs.install()
    settings = load_settings()
    install(settings)
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
