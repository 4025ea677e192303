"""`rasa` with the speed-ups, the action-server deadline and the limit on
messages handled at once applied: `python -m bot.rasa_server run ...`."""

from __future__ import annotations

import sys

# TensorFlow's TFLite helpers import JAX when it is installed (TensorFlow
# 2.12 requires it) inside ``try/except ImportError``, for converting JAX
# models, which Rasa never does. Not importing it saves about 65 MB per Rasa
# process (README, "Benchmark").
if "jax" not in sys.modules:
    sys.modules["jax"] = None

from bot import admission, resilience, speedups  # noqa: E402
from bot.settings import load_settings  # noqa: E402


def main() -> None:
    speedups.apply()
    resilience.apply()
    admission.apply(load_settings().max_concurrent_messages)
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
