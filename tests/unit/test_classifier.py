"""The linear intent classifier: training, persistence, confidences."""

from __future__ import annotations

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack

from bot import PROJECT_ROOT
from bot.nlp.classifier import LinearIntentClassifier, lemmas, normalise, softmax
from bot.nlp.embeddings import EmbeddingFilesError
from tools.evaluate import read_examples

# As config.yml has it: n-grams and the token vectors.
WITH_VECTORS = {
    **LinearIntentClassifier.get_default_config(),
    "embeddings": "build/wordllama",
}

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


def train(
    storage: LocalModelStorage,
    context: ExecutionContext,
    examples: list[tuple[str, str]],
    name: str = "classifier",
    config: dict | None = None,
) -> LinearIntentClassifier:
    classifier = LinearIntentClassifier.create(
        config or LinearIntentClassifier.get_default_config(),
        storage,
        Resource(name),
        context,
    )
    classifier.train(TrainingData([message(t, intent) for t, intent in examples]))
    return classifier


@pytest.fixture
def trained(storage, context) -> LinearIntentClassifier:
    examples = [(t, intent) for intent, texts in EXAMPLES.items() for t in texts]
    return train(storage, context, examples)


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> LinearIntentClassifier:
    """Trained on the bot's own NLU data with the token vectors, as served."""
    examples = [
        pair
        for path in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml"))
        for pair in read_examples(path)
    ]
    return train(
        LocalModelStorage(tmp_path_factory.mktemp("real")),
        ExecutionContext(GraphSchema({}), "test"),
        examples,
        config=WITH_VECTORS,
    )


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


def slow_features(classifier: LinearIntentClassifier, msg: Message):
    """The message's feature row built by the stored sklearn objects."""
    model = classifier.model
    text = normalise(msg.get(TEXT))
    blocks = [model["words"].transform([lemmas(msg)]), model["chars"].transform([text])]
    if model["vector_weight"]:
        vector = classifier.vectors.embed(text)
        blocks.append(csr_matrix(model["vector_weight"] * vector[None, :]))
    return hstack(blocks).tocsr()


def sklearn_ranking(
    classifier: LinearIntentClassifier, msg: Message
) -> tuple[list[str], np.ndarray, bool]:
    """rank() computed the slow way, through the stored sklearn objects."""
    model, config = classifier.model, classifier.config
    words = model["words"].transform([lemmas(msg)])
    scores = model["svm"].decision_function(slow_features(classifier, msg))[0]
    confidences = softmax(scores, config["temperature"])
    if words.nnz == 0:
        confidences = confidences * config["unknown_words_factor"]
    order = np.argsort(-confidences)[: config["ranking_length"]]
    names = [str(model["svm"].classes_[i]) for i in order]
    return names, confidences[order], words.nnz > 0


TEXTS = [
    "does dry needling hurt",
    "DOES IT HURT",
    "hurt hurt hurt hurt hurt",
    "book book book an appointment appointment",
    "i’d like an appointment, what’s the cost?",
    "i'd like an appointment, what's the cost?",
    "blorp asdf zzzz",
    "héllo ça fait mal 日本語 👍",
    "naïve café – crème brûlée",
    "   ",
    "?!",
    "👍",
    "a",
    "does\tit\n   hurt    after  the session",
    "can I book a session for next Tuesday at 3pm, and how long does it last?",
]


@pytest.mark.parametrize("model", ["trained", "real"])
@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.slow
def test_rank_matches_sklearn(request, model, text):
    classifier = request.getfixturevalue(model)
    msg = message(text)
    names, confidences, known_words = sklearn_ranking(classifier, msg)
    ranking = classifier.rank(msg)
    assert [r["name"] for r in ranking] == names
    np.testing.assert_allclose(
        [r["confidence"] for r in ranking], confidences, rtol=0, atol=1e-9
    )
    _, fast_known_words = classifier._fast.scores(lemmas(msg), normalise(msg.get(TEXT)))
    assert fast_known_words == known_words


@pytest.mark.slow
def test_rank_scores_match_decision_function(real):
    model = real.model
    assert model["vector_weight"] > 0
    for text in TEXTS:
        msg = message(text)
        features = slow_features(real, msg)
        scores, _ = real._fast.scores(lemmas(msg), normalise(msg.get(TEXT)))
        np.testing.assert_allclose(
            scores, model["svm"].decision_function(features)[0], rtol=0, atol=1e-9
        )


@pytest.mark.parametrize(
    "model", ["trained", pytest.param("real", marks=pytest.mark.slow)]
)
def test_nothing_recognised_falls_back_to_the_intercepts(request, model):
    classifier = request.getfixturevalue(model)
    scores, known_words = classifier._fast.scores("", "")
    assert not known_words
    np.testing.assert_array_equal(scores, classifier.model["svm"].intercept_)


def test_two_intents_rank_both(storage, context):
    examples = [(t, "greet") for t in EXAMPLES["greet"]] + [
        (t, "faq_does_it_hurt") for t in EXAMPLES["faq_does_it_hurt"]
    ]
    classifier = train(storage, context, examples, name="two")
    for text, intent in (
        ("hello there", "greet"),
        ("does it hurt", "faq_does_it_hurt"),
    ):
        ranking = classify(classifier, text).get(INTENT_RANKING_KEY)
        assert ranking[0]["name"] == intent
        assert {r["name"] for r in ranking} == {"greet", "faq_does_it_hurt"}
        assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)


def test_vectors_carry_a_paraphrase_the_ngrams_miss(storage, context):
    """No word of the question is in training; only the vectors can place it."""
    examples = [
        ("where is the clinic", "clinic_location"),
        ("what is your address", "clinic_location"),
        ("does it hurt", "faq_does_it_hurt"),
        ("is it painful", "faq_does_it_hurt"),
    ]
    plain = train(storage, context, examples, name="plain")
    with_vectors = train(
        storage, context, examples, name="vectors", config=WITH_VECTORS
    )
    text = "sore??"
    assert classify(with_vectors, text).get(INTENT)["name"] == "faq_does_it_hurt"
    plain_ranking = classify(plain, text).get(INTENT_RANKING_KEY)
    vector_ranking = classify(with_vectors, text).get(INTENT_RANKING_KEY)
    assert vector_ranking != plain_ranking


def test_model_trained_with_vectors_refuses_to_load_without_them(storage, context):
    examples = [(t, intent) for intent, texts in EXAMPLES.items() for t in texts]
    train(storage, context, examples, name="vectors", config=WITH_VECTORS)
    with pytest.raises(EmbeddingFilesError, match="retrain"):
        LinearIntentClassifier.load(
            LinearIntentClassifier.get_default_config(),
            storage,
            Resource("vectors"),
            context,
        )
    loaded = LinearIntentClassifier.load(
        WITH_VECTORS, storage, Resource("vectors"), context
    )
    assert classify(loaded, "does it hurt").get(INTENT)["name"] == "faq_does_it_hurt"
