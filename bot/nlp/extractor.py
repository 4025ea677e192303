"""NLU component: contact details, a time and a concern as entities.

The entities fill the booking and callback forms' slots through ``from_entity``
mappings in domain.yml, so a form that starts only asks for what is missing.
The finding itself is ``bot.nlp.details``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlp.details import find_details, load_vocabulary

BODY_LABELS = ("body_part", "condition")


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False
)
class DetailsExtractor(GraphComponent, EntityExtractorMixin):
    """Adds person_name, phone_number, email_address, time_phrase and
    concern_phrase entities."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"english_words": "build/spacy_en_physio/english_words.txt"}

    def __init__(self, config: dict[str, Any], vocabulary: frozenset) -> None:
        self.config = config
        self.vocabulary = vocabulary

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DetailsExtractor:
        return cls(config, load_vocabulary(Path(config["english_words"])))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if not text.strip():
                continue
            entities = list(message.get(ENTITIES) or [])
            spans = [
                (e["start"], e["end"])
                for e in entities
                if e.get("entity") in BODY_LABELS and "start" in e
            ]
            found = find_details(text, self.vocabulary or None, spans)
            if found:
                entities += [detail.as_entity(self.name) for detail in found]
                message.set(ENTITIES, entities, add_to_output=True)
        return messages
