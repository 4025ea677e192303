"""Short booking references people can read out over the phone: DN-4K7Q."""

from __future__ import annotations

import secrets

# No 0/O, 1/I/L, 5/S, 2/Z, 8/B: easy to read aloud and to type back.
ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
LENGTH = 4
PREFIX = "DN-"


def new_reference() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def looks_like_reference(text: str) -> bool:
    text = text.strip().upper()
    return (
        text.startswith(PREFIX)
        and len(text) == len(PREFIX) + LENGTH
        and all(ch in ALPHABET for ch in text[len(PREFIX) :])
    )
