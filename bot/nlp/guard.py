"""NLU guard: red flags always win, safety questions go to the physio, other
languages get an English reply.

The classifier is statistical; a missed emergency is the one mistake this bot
must not make, so explicit red-flag phrases override whatever it predicted.
A question that names a group or condition that may change whether needling
is safe (``safety_groups.yml``) is never given one of the article's answers.
Messages mostly in a non-Latin script, or ones the classifier could not place
and that hold few English words, are marked ``non_english``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
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
SAFETY_GROUPS_FILE = Path(__file__).with_name("safety_groups.yml")
FIRST_NAMES_FILE = Path(__file__).with_name("first_names.txt")
INFORM = "inform"
# A message that is only a name, maybe with a surname or "it's"/"I'm".
JUST_A_NAME = re.compile(
    r"^\s*(?:(?:it'?s|i'?m|im|this is|call me)\s+)?([^\W\d_][\w'-]*)"
    r"(?:\s+[^\W\d_][\w'-]*)?\s*[.!]?\s*$",
    re.I,
)


def load_first_names(path: Path = FIRST_NAMES_FILE) -> frozenset:
    lines = path.read_text(encoding="utf8").splitlines()
    return frozenset(
        line.strip() for line in lines if line.strip() and not line.startswith("#")
    )


EMERGENCY = "emergency"
REFER = "personal_advice"
NON_ENGLISH = "non_english"
FALLBACK = "nlu_fallback"
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


# Groups never set aside as a question or a story of the past.
ALWAYS = ("self_harm",)
SENTENCE = re.compile(r"[^.!?;\n]+[.!?;\n]*")
# Words that say the symptom is serious; a classifier guess of `emergency`
# without one of them is an everyday complaint ("my hip has been giving me
# grief") and is not trusted.
SYMPTOM_WORDS = re.compile(
    r"\b(chest|breath\w*|brethe|air|stroke|face|speech|slurr\w*|numb\w*|"
    r"bladder|bowels?|pee|wee|groin|saddle|collaps\w*|unconscious|faint\w*|"
    r"passed\s+out|bleed\w*|blood|suicid\w*|die|dying|dead|"
    r"overdos\w*|pills|tablets|seizure|fit|fitting|swell\w*|throat|lips|"
    r"headache|heart|harm|hurt\s+myself|ambulance|000|emergency|help)\b",
    re.I,
)


@dataclass(frozen=True)
class RedFlags:
    """The red-flag patterns and the sentence tests that set a match aside."""

    patterns: tuple[re.Pattern, ...]
    always: tuple[re.Pattern, ...]
    hypothetical: re.Pattern
    past: re.Pattern
    now: re.Pattern

    def __iter__(self):
        return iter(self.always + self.patterns)

    def sentence_counts(self, sentence: str) -> bool:
        """A match in a question about what could happen, or in a story of
        the past, does not count unless the sentence also says "now"."""
        if self.now.search(sentence):
            return True
        return not (self.hypothetical.search(sentence) or self.past.search(sentence))

    def first(self, text: str) -> re.Match | None:
        text = text.replace("’", "'")
        for pattern in self.always:
            if match := pattern.search(text):
                return match
        for sentence in SENTENCE.finditer(text):
            for pattern in self.patterns:
                if (
                    match := pattern.search(sentence.group(0))
                ) and self.sentence_counts(sentence.group(0)):
                    return match
        return None


def load_red_flags(path: Path = RED_FLAGS_FILE) -> RedFlags:
    data = yaml.safe_load(Path(path).read_text(encoding="utf8"))

    def compiled(groups: list[str]) -> tuple[re.Pattern, ...]:
        return tuple(
            re.compile(pattern, re.IGNORECASE)
            for group in groups
            for pattern in data["patterns"][group]
        )

    always = [g for g in data["patterns"] if g in ALWAYS]
    return RedFlags(
        patterns=compiled([g for g in data["patterns"] if g not in ALWAYS]),
        always=compiled(always),
        hypothetical=re.compile(data["hypothetical"], re.IGNORECASE),
        past=re.compile(data["past"], re.IGNORECASE),
        now=re.compile(data["now"], re.IGNORECASE),
    )


# A message the classifier could not place counts as a safety question only
# when it is about treatment at all ("my son has epilepsy" alone is not).
TREATMENT_CUE = re.compile(
    r"needl|treat|physio|therap|session|\bsafe|\bok\b|okay|alright|allowed|"
    r"\brisk|\b(can|could|should|may)\s+(i|he|she|they|you|we|my|someone|people)\b",
    re.I,
)


SAFETY_QUESTION = re.compile(
    r"\bsafe|\b(ok|okay|alright|allowed)\b|\b(can|could|may|should)\s+"
    r"(i|he|she|they|we|my\s+\w+)\s+(still\s+)?(get|have|do|try|be\s+needled)\b",
    re.I,
)


@dataclass(frozen=True)
class SafetyGroups:
    """Groups and conditions that make a question the physio's to answer."""

    patterns: dict[str, tuple[re.Pattern, ...]]

    def named(self, text: str) -> str | None:
        """The first group ``text`` names, or None."""
        text = text.replace("’", "'")
        for group, patterns in self.patterns.items():
            if any(p.search(text) for p in patterns):
                return group
        return None

    def needs_physio(self, text: str, intent: str) -> bool:
        """An article answer (``faq_*``), or no answer at all, for a question
        that names a group or condition, goes to the physio instead."""
        if intent.startswith("faq_"):
            return self.named(text) is not None
        if intent in (FALLBACK, "out_of_scope"):
            return bool(TREATMENT_CUE.search(text)) and self.named(text) is not None
        if intent == "book_appointment":
            # "ITP here, can I get needling?" asks first; "I'm pregnant, can I
            # book?" books, and the physio asks at the assessment.
            return bool(SAFETY_QUESTION.search(text)) and self.named(text) is not None
        return False


def load_safety_groups(path: Path = SAFETY_GROUPS_FILE) -> SafetyGroups:
    data = yaml.safe_load(Path(path).read_text(encoding="utf8"))
    return SafetyGroups(
        {
            group: tuple(re.compile(p, re.IGNORECASE) for p in patterns)
            for group, patterns in data["groups"].items()
        }
    )


def is_red_flag(text: str, flags: RedFlags) -> bool:
    return flags.first(text) is not None


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
            "safety_groups": str(SAFETY_GROUPS_FILE),
            "english_words": "build/spacy_en_physio/english_words.txt",
            "first_names": str(FIRST_NAMES_FILE),
            "non_latin_threshold": 0.5,
            "min_english_share": 0.34,
        }

    def __init__(
        self,
        config: dict[str, Any],
        red_flags: RedFlags,
        vocabulary: frozenset,
        safety_groups: SafetyGroups | None = None,
        first_names: frozenset | None = None,
    ) -> None:
        self.config = config
        self.red_flags = red_flags
        self.vocabulary = vocabulary
        self.safety_groups = safety_groups or load_safety_groups()
        self.first_names = load_first_names() if first_names is None else first_names

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
        return cls(
            config,
            load_red_flags(Path(config["red_flags"])),
            vocabulary,
            load_safety_groups(Path(config["safety_groups"])),
            load_first_names(Path(config["first_names"])),
        )

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
        # A bare name is someone answering "What's your first name?", even
        # when its letters look like a question's ("Imogen" -> oestrogen,
        # "Lily" -> daily): without this the form never gets the name.
        name = JUST_A_NAME.match(text.replace("’", "'"))
        if name and name.group(1).lower() in self.first_names:
            return INFORM
        top = ranking[0] if ranking else None
        forced = None
        if top == EMERGENCY and not self._trusted_emergency(text):
            forced = top = next((n for n in ranking[1:] if n != EMERGENCY), FALLBACK)
        if top and self.safety_groups.needs_physio(text, top):
            return REFER
        if forced:
            return forced
        if non_latin_share(text) >= self.config["non_latin_threshold"]:
            return NON_ENGLISH
        if ranking and ranking[0] == FALLBACK and NON_ENGLISH in ranking[:3]:
            share = english_share(text, self.vocabulary)
            if share is not None and share < self.config["min_english_share"]:
                return NON_ENGLISH
        return None

    def _trusted_emergency(self, text: str) -> bool:
        """The classifier's `emergency` stands when a symptom word is in a
        sentence that is not a question about risk or a story of the past."""
        return any(
            SYMPTOM_WORDS.search(sentence.group(0))
            and self.red_flags.sentence_counts(sentence.group(0))
            for sentence in SENTENCE.finditer(text.replace("’", "'"))
        )

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
                confidence = next(
                    (
                        r.get("confidence", 1.0)
                        for r in message.get(INTENT_RANKING_KEY) or []
                        if r.get("name") == forced and forced != EMERGENCY
                    ),
                    1.0,
                )
                top = {"name": forced, "confidence": confidence}
                message.set(INTENT, top, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        return messages
