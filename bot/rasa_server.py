"""`rasa` with the speed-ups, the action-server deadline and the limit on
messages handled at once applied: `python -m bot.rasa_server run ...`."""

from __future__ import annotations

from bot import admission, resilience, speedups
from bot.settings import load_settings


def main() -> None:
    speedups.apply()
    resilience.apply()
    admission.apply(load_settings().max_concurrent_messages)
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
