"""`rasa` with the project's speed-ups: `python -m bot.rasa_server run ...`."""

from __future__ import annotations

from bot import speedups


def main() -> None:
    speedups.apply()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
