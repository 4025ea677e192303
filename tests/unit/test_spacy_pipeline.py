"""The spaCy pipeline builder and the terms file behind its entity ruler."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy

from bot.nlp import builder
from bot.nlp.terms import find_term, load_terms


@pytest.fixture(scope="module")
def nlp():
    return builder.build_pipeline()


def ents(nlp, text: str) -> list[tuple[str, str, str]]:
    return [(e.text, e.label_, e.ent_id_) for e in nlp(text).ents]


def test_pipeline_is_blank_english_with_lemmas_and_ruler(nlp):
    assert nlp.lang == "en"
    assert nlp.pipe_names == ["lemmatizer", "entity_ruler"]
    assert [t.lemma_ for t in nlp("needling shoulders hurts")] == [
        "needle",
        "shoulder",
        "hurt",
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("can it help my sciatica", ("sciatica", "condition", "sciatica")),
        ("got sciatia down my leg", ("sciatia", "condition", "sciatica")),
        ("My SHOULDERS are stiff", ("SHOULDERS", "body_part", "shoulder")),
        ("sore lowerback", ("lowerback", "body_part", "lower_back")),
        ("tennis elbow again", ("tennis elbow", "condition", "tennis_elbow")),
        ("golfers elbow", ("golfers elbow", "condition", "golfers_elbow")),
        ("golfer's elbow", ("golfer's elbow", "condition", "golfers_elbow")),
        ("pain in my piriformis", ("piriformis", "body_part", "glutes")),
        ("i sprained ankle", ("sprained ankle", "condition", "sprain")),
    ],
)
def test_ruler_finds_canonical_terms(nlp, text, expected):
    assert expected in ents(nlp, text)


def test_longest_match_wins(nlp):
    assert ents(nlp, "my tennis elbow") == [
        ("tennis elbow", "condition", "tennis_elbow")
    ]
    assert ents(nlp, "sore lower back") == [("lower back", "body_part", "lower_back")]


@pytest.mark.parametrize(
    "text",
    ["can someone ring me back", "please call me back tomorrow", "I'll come back"],
)
def test_idioms_are_not_body_parts(nlp, text):
    assert [label for _, label, _ in ents(nlp, text)] == [builder.NOT_A_TERM]


def test_an_idiom_does_not_hide_a_real_body_part(nlp):
    assert ents(nlp, "ring me back about my sore back") == [
        ("ring me back", builder.NOT_A_TERM, ""),
        ("back", "body_part", "back"),
    ]


def test_no_entities_in_plain_questions(nlp):
    assert ents(nlp, "does dry needling hurt") == []


@pytest.mark.slow
def test_build_writes_a_loadable_pipeline_and_skips_when_current(tmp_path: Path):
    out = tmp_path / "pipeline"
    assert builder.build(out) is True
    assert builder.build(out) is False
    loaded = spacy.load(out)
    assert [e.label_ for e in loaded("my hip and my sciatica").ents] == [
        "body_part",
        "condition",
    ]
    words = (out / builder.ENGLISH_WORDS_FILE).read_text().split()
    assert len(words) == builder.ENGLISH_VOCABULARY_SIZE
    assert {"the", "pain", "needle", "shoulder"} <= set(words)


@pytest.mark.slow
def test_build_reruns_when_the_terms_change(tmp_path: Path):
    terms = tmp_path / "terms.yml"
    terms.write_text(
        "terms:\n  - {id: knee, label: body_part, name: knee, listed_as: knee pain}\n"
    )
    out = tmp_path / "pipeline"
    assert builder.build(out, terms) is True
    terms.write_text(terms.read_text().replace("knee pain", "knees"))
    assert builder.build(out, terms) is True


def test_terms_reject_a_spelling_shared_by_two_terms(tmp_path: Path):
    terms = tmp_path / "terms.yml"
    terms.write_text(
        "terms:\n"
        "  - {id: a, label: body_part, name: calf, listed_as: null}\n"
        "  - {id: b, label: body_part, name: shin, spellings: [calf]}\n"
    )
    with pytest.raises(ValueError, match="calf"):
        load_terms(terms)


def test_terms_reject_unknown_labels(tmp_path: Path):
    terms = tmp_path / "terms.yml"
    terms.write_text("terms:\n  - {id: a, label: organ, name: liver}\n")
    with pytest.raises(ValueError, match="unknown label"):
        load_terms(terms)


def test_every_term_the_article_lists_has_wording():
    listed = {t.id for t in load_terms() if t.listed}
    assert {
        "neck",
        "lower_back",
        "shoulder",
        "cervicogenic_headache",
        "hip",
        "glutes",
        "tennis_elbow",
        "golfers_elbow",
        "sciatica",
        "arthritis",
        "sprain",
    } <= listed
    # Only one kind of knee, elbow, back or headache problem is on the list.
    related = {t.id for t in load_terms() if t.related}
    assert {"knee", "elbow", "back", "headache"} <= related
    assert not related & listed
    assert find_term("plantar fasciitis").listed is False
    assert find_term("  Golfer’s   Elbow ").id == "golfers_elbow"


def test_the_pipeline_is_loaded_once_per_process():
    """Rasa's graph creates SpacyNLP twice; both get one loaded pipeline."""
    from rasa.nlu.utils import spacy_utils

    from bot.nlp.spacy_nlp import SpacyNLP

    config = {**SpacyNLP.get_default_config(), "model": "build/spacy_en_physio"}
    first = SpacyNLP.create(config, None, None, None)
    second = SpacyNLP.create(config, None, None, None)
    assert first.provide().model is second.provide().model
    # Components that need the spaCy model find it by Rasa's class name.
    assert SpacyNLP.__name__ == spacy_utils.SpacyNLP.__name__
    assert issubclass(SpacyNLP, spacy_utils.SpacyNLP)
