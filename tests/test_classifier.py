"""The linear intent classifier: training, persistence, confidences."""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlp.classifier import LinearIntentClassifier

EXAMPLES = {
    "greet": ["hi", "hello there", "hey", "good morning", "hiya"],
    "faq_does_it_hurt": [
        "does dry needling hurt",
        "is it painful",
        "will the needles hurt",
        "how much does it hurt",
        "is dry needling sore",
    ],
    "book_appointment": [
        "i want to book",
        "can i make an appointment",
        "book me in please",
        "i'd like an appointment",
        "schedule a session",
    ],
}


def tokenizer() -> WhitespaceTokenizer:
    return WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())


def message(text: str, intent: str | None = None) -> Message:
    data = {TEXT: text, **({INTENT: intent} if intent else {})}
    msg = Message(data=data)
    tokenizer().process([msg])
    return msg


@pytest.fixture
def storage(tmp_path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


@pytest.fixture
def context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


@pytest.fixture
def trained(storage, context) -> LinearIntentClassifier:
    classifier = LinearIntentClassifier.create(
        LinearIntentClassifier.get_default_config(),
        storage,
        Resource("classifier"),
        context,
    )
    data = TrainingData(
        [message(t, intent) for intent, texts in EXAMPLES.items() for t in texts]
    )
    classifier.train(data)
    return classifier


def classify(classifier: LinearIntentClassifier, text: str) -> Message:
    msg = message(text)
    classifier.process([msg])
    return msg


@pytest.mark.parametrize(
    "text, intent",
    [
        ("hello", "greet"),
        ("do the needles hurt much", "faq_does_it_hurt"),
        ("can i book an appointment", "book_appointment"),
    ],
)
def test_predicts_unseen_paraphrases(trained, text, intent):
    msg = classify(trained, text)
    assert msg.get(INTENT)["name"] == intent
    ranking = msg.get(INTENT_RANKING_KEY)
    assert ranking[0] == msg.get(INTENT)
    confidences = [r["confidence"] for r in ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert {r["name"] for r in ranking} == set(EXAMPLES)
    assert sum(confidences) == pytest.approx(1.0)


def test_words_never_seen_lower_the_confidence(trained):
    known = classify(trained, "hurt").get(INTENT)["confidence"]
    unknown = classify(trained, "blorp").get(INTENT)["confidence"]
    factor = LinearIntentClassifier.get_default_config()["unknown_words_factor"]
    assert unknown <= factor
    assert unknown < known


def test_loaded_model_predicts_like_the_trained_one(trained, storage, context):
    loaded = LinearIntentClassifier.load(
        LinearIntentClassifier.get_default_config(),
        storage,
        Resource("classifier"),
        context,
    )
    for text in ("does it hurt", "hey", "appointment please"):
        assert classify(loaded, text).get(INTENT_RANKING_KEY) == classify(
            trained, text
        ).get(INTENT_RANKING_KEY)


def test_without_a_trained_model_messages_are_left_alone(storage, context):
    classifier = LinearIntentClassifier.load(
        LinearIntentClassifier.get_default_config(),
        storage,
        Resource("never-trained"),
        context,
    )
    msg = classify(classifier, "does it hurt")
    assert msg.get(INTENT) is None


def test_one_intent_is_not_enough_to_train(storage, context):
    classifier = LinearIntentClassifier.create(
        LinearIntentClassifier.get_default_config(),
        storage,
        Resource("one"),
        context,
    )
    classifier.train(TrainingData([message("hi", "greet"), message("hey", "greet")]))
    assert classify(classifier, "hi").get(INTENT) is None
