"""`rasa` with the speed-ups and the action-server deadline applied:
`python -m bot.rasa_server run ...`."""

from __future__ import annotations

from bot import resilience, speedups


def main() -> None:
    speedups.apply()
    resilience.apply()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
