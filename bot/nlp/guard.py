"""NLU guard: red flags always win, other languages get an English reply.

The classifier is statistical; a missed emergency is the one mistake this bot
must not make, so explicit red-flag phrases override whatever it predicted.
Messages mostly in a non-Latin script, or ones the classifier could not place
and that hold few English words, are marked ``non_english``.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

RED_FLAGS_FILE = Path(__file__).with_name("red_flags.yml")
EMERGENCY = "emergency"
NON_ENGLISH = "non_english"
FALLBACK = "nlu_fallback"
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def load_red_flags(path: Path = RED_FLAGS_FILE) -> list[re.Pattern]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf8"))
    return [
        re.compile(pattern, re.IGNORECASE)
        for group in data["patterns"].values()
        for pattern in group
    ]


def is_red_flag(text: str, patterns: list[re.Pattern]) -> bool:
    text = text.replace("’", "'")
    return any(pattern.search(text) for pattern in patterns)


def non_latin_share(text: str) -> float:
    """Share of letters outside the Latin script (CJK, Arabic, Greek, ...)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    foreign = sum(
        1 for ch in letters if not unicodedata.name(ch, "").startswith("LATIN")
    )
    return foreign / len(letters)


def english_share(text: str, vocabulary: frozenset) -> float | None:
    """Share of words that are English words; None for too few words to tell."""
    words = [w.lower() for w in WORD.findall(text.replace("’", "'"))]
    if len(words) < 3:
        return None
    return sum(1 for w in words if w in vocabulary) / len(words)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class SafetyLanguageGuard(GraphComponent, IntentClassifier):
    """Overrides the predicted intent for red flags and non-English text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "red_flags": str(RED_FLAGS_FILE),
            "english_words": "build/spacy_en_physio/english_words.txt",
            "non_latin_threshold": 0.5,
            "min_english_share": 0.34,
        }

    def __init__(
        self,
        config: dict[str, Any],
        red_flags: list[re.Pattern],
        vocabulary: frozenset,
    ) -> None:
        self.config = config
        self.red_flags = red_flags
        self.vocabulary = vocabulary

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyLanguageGuard:
        words_file = Path(config["english_words"])
        vocabulary = frozenset(words_file.read_text(encoding="utf8").split())
        return cls(config, load_red_flags(Path(config["red_flags"])), vocabulary)

    def classify(self, text: str, ranking: list[str]) -> str | None:
        """The intent to force for this text, or None to keep the prediction.

        ``ranking`` is the classifier's intent names, best first. A Latin-script
        message only counts as another language when the classifier was unsure
        and itself saw a foreign language among its top guesses; otherwise
        gibberish and heavy typos would be sent the "English only" reply.
        """
        if not text:
            return None
        if is_red_flag(text, self.red_flags):
            return EMERGENCY
        if non_latin_share(text) >= self.config["non_latin_threshold"]:
            return NON_ENGLISH
        if ranking and ranking[0] == FALLBACK and NON_ENGLISH in ranking[:3]:
            share = english_share(text, self.vocabulary)
            if share is not None and share < self.config["min_english_share"]:
                return NON_ENGLISH
        return None

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            names = [r.get("name") for r in message.get(INTENT_RANKING_KEY) or []]
            if intent.get("name") and (not names or names[0] != intent["name"]):
                names.insert(0, intent["name"])
            forced = self.classify(message.get(TEXT) or "", names)
            if forced and forced != intent.get("name"):
                ranking = [
                    r
                    for r in message.get(INTENT_RANKING_KEY) or []
                    if r.get("name") != forced
                ]
                top = {"name": forced, "confidence": 1.0}
                message.set(INTENT, top, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        return messages
