"""Body parts and conditions the assistant recognises, read from ``terms.yml``.

One file feeds both the spaCy entity ruler and the answer to "can it help my
...?", so a spelling the ruler recognises always maps back to its canonical
term and to what the article says about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

TERMS_FILE = Path(__file__).with_name("terms.yml")
LABELS = ("body_part", "condition")


@dataclass(frozen=True)
class Term:
    id: str
    label: str
    name: str
    listed_as: str | None
    phrases: tuple[str, ...]
    # The article lists only one kind of problem here (a knee: arthritic knee
    # pain; a headache: one from the neck), so it is named as related, never
    # as the patient's own.
    related: str | None = None

    @property
    def listed(self) -> bool:
        return self.listed_as is not None


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    return re.sub(r"\s+", " ", text).strip()


def _variants(phrase: str) -> list[str]:
    """The phrase plus a plural of its last word, as people write both."""
    phrase = _normalise(phrase)
    variants = [phrase]
    if phrase[-1].isalpha() and not phrase.endswith("s"):
        variants.append(phrase + "s")
    return variants


@cache
def load_terms(path: Path = TERMS_FILE) -> tuple[Term, ...]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf8"))
    terms = []
    seen: dict[str, str] = {}
    for entry in data["terms"]:
        if entry["label"] not in LABELS:
            raise ValueError(f"{entry['id']}: unknown label {entry['label']!r}")
        phrases: list[str] = []
        for phrase in [entry["name"], *entry.get("spellings", [])]:
            for variant in _variants(phrase):
                if variant in seen and seen[variant] != entry["id"]:
                    raise ValueError(
                        f"{variant!r} is listed for both {seen[variant]} and "
                        f"{entry['id']}"
                    )
                if variant not in seen:
                    seen[variant] = entry["id"]
                    phrases.append(variant)
        terms.append(
            Term(
                id=entry["id"],
                label=entry["label"],
                name=entry["name"],
                listed_as=entry.get("listed_as"),
                phrases=tuple(phrases),
                related=entry.get("related"),
            )
        )
    return tuple(terms)


@cache
def load_not_terms(path: Path = TERMS_FILE) -> tuple[str, ...]:
    """Phrases that contain a body-part word without meaning the body part."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf8"))
    return tuple(_normalise(p) for p in data.get("not_terms") or [])


@cache
def _index(path: Path) -> dict[str, Term]:
    return {phrase: term for term in load_terms(path) for phrase in term.phrases}


def find_term(text: str, path: Path = TERMS_FILE) -> Term | None:
    """The term an extracted entity value refers to, or None."""
    return _index(path).get(_normalise(text))
