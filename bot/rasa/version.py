"""The one Rasa release this project's changes to Rasa were written for, and
the check every one of them runs: the patches before they go in
(bot/rasa/extensions.py), and each class of ours Rasa builds (policy,
tracker and lock stores, the REST channel) when it is built. It imports
nothing of the project, so every layer may use it."""

from __future__ import annotations

RASA_VERSION = "3.6.21"


class WrongRasa(SystemExit):
    """The installed Rasa is not the one the patches were written against."""


def check_version(version: str | None = None) -> None:
    """Refuse any Rasa but the one this project's changes were written for:
    run before the patches go in and whenever Rasa builds one of our classes.
    A ``SystemExit``, so Rasa's ``except Exception`` around building a store
    or a graph component cannot turn it into a warning."""
    if version is None:
        import rasa

        version = rasa.__version__
    if version != RASA_VERSION:
        raise WrongRasa(
            f"This project changes Rasa {RASA_VERSION}'s own code "
            f"(bot/rasa/) and found Rasa {version}. Pin "
            f"rasa=={RASA_VERSION} (make setup does), or follow the upgrade "
            "checklist in docs/rasa-extensions.md first."
        )
