"""The NLU guard: red flags always win, other languages are recognised."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlp.guard import (
    SafetyLanguageGuard,
    english_share,
    is_red_flag,
    load_red_flags,
    non_latin_share,
)

RED_FLAGS = load_red_flags()
VOCABULARY = frozenset(
    "the a is it my i does do what how pain needle hurt and of to".split()
)


@pytest.fixture
def guard() -> SafetyLanguageGuard:
    config = SafetyLanguageGuard.get_default_config()
    return SafetyLanguageGuard(config, RED_FLAGS, VOCABULARY)


@pytest.mark.parametrize(
    "text",
    [
        "I have chest pain and my arm is numb",
        "tightness in my chest",
        "i cant breathe properly",
        "can’t breath",
        "I think dad is having a stroke",
        "her face is drooping",
        "slurred speech all of a sudden",
        "back pain and I've lost control of my bladder",
        "numbness in my groin since this morning",
        "I want to kill myself",
        "thinking about suicide",
        "I don't want to live anymore",
        "i've been self harming",
        "I keep wanting to hurt myself at work",
        "some nights I hurt myself on purpose",
        "I'm thinking about hurting myself",
    ],
)
def test_red_flags_are_recognised(text):
    assert is_red_flag(text, RED_FLAGS)


@pytest.mark.parametrize(
    "text",
    [
        "does dry needling hurt",
        "my back is killing me",
        "what are the side effects",
        "can it help my breathing muscles feel less tight",
        "i hurt my shoulder at the gym",
        "i hurt myself at work, can workcover pay for it",
        "hurt myself lifting a couch, is that a physio thing",
        "just had a stroke of luck, a cancellation came up",
    ],
)
def test_ordinary_questions_are_not_red_flags(text):
    assert not is_red_flag(text, RED_FLAGS)


def test_script_and_vocabulary_measures():
    assert non_latin_share("干针会痛吗") == 1.0
    assert non_latin_share("does it hurt?") == 0.0
    assert non_latin_share("1234 !!") == 0.0
    assert english_share("does it hurt", VOCABULARY) == 1.0
    assert english_share("duele la punción", VOCABULARY) == 0.0
    assert english_share("hurt?", VOCABULARY) is None


def test_red_flag_beats_the_classifier(guard):
    assert guard.classify("chest pain right now", ["faq_side_effects"]) == "emergency"


def test_non_latin_script_is_another_language(guard):
    assert guard.classify("Αυτό πονάει;", ["greet"]) == "non_english"


def test_unsure_latin_text_with_foreign_signal_is_another_language(guard):
    ranking = ["nlu_fallback", "non_english", "greet"]
    assert guard.classify("punción seca duele mucho", ranking) == "non_english"


def test_gibberish_without_foreign_signal_stays_a_fallback(guard):
    ranking = ["nlu_fallback", "greet", "help"]
    assert guard.classify("asdf qwer zxcv", ranking) is None


def test_confident_english_prediction_is_kept(guard):
    assert guard.classify("does it hurt", ["faq_does_it_hurt"]) is None


def test_process_rewrites_intent_and_ranking(guard):
    message = Message(
        data={
            "text": "can't breathe",
            "intent": {"name": "faq_side_effects", "confidence": 0.8},
            "intent_ranking": [
                {"name": "faq_side_effects", "confidence": 0.8},
                {"name": "emergency", "confidence": 0.1},
            ],
        }
    )
    [processed] = guard.process([message])
    assert processed.get("intent") == {"name": "emergency", "confidence": 1.0}
    names = [r["name"] for r in processed.get("intent_ranking")]
    assert names == ["emergency", "faq_side_effects"]


def test_process_leaves_ordinary_messages_alone(guard):
    intent = {"name": "faq_does_it_hurt", "confidence": 0.9}
    message = Message(data={"text": "does it hurt", "intent": intent})
    [processed] = guard.process([message])
    assert processed.get("intent") == intent


@pytest.mark.parametrize(
    "text",
    [
        "can dry needling cause a collapsed lung?",
        "could the needle hit my lung",
        "what if I faint when I see the needles",
        "I had a stroke three years ago, can I still have it?",
        "my arches have collapsed, can needling help?",
        "i went home and collapsed on the couch, is being tired normal?",
    ],
)
def test_questions_about_risks_and_past_events_are_not_red_flags(text):
    assert not is_red_flag(text, RED_FLAGS)


@pytest.mark.parametrize(
    "text",
    [
        "what if it's a heart attack, my chest is crushing right now",
        "I think my lung collapsed after needling, I can barely breathe",
        "my husband has just collapsed",
        "I had dry needling this morning and now I can't catch my breath",
        "is there any point, I just want to end it all",
    ],
)
def test_a_symptom_now_wins_even_inside_a_question(text):
    assert is_red_flag(text, RED_FLAGS)


def test_a_classifier_emergency_without_a_symptom_word_is_not_trusted(guard):
    ranking = ["emergency", "faq_conditions_treated", "greet"]
    assert guard.classify("my hip has been giving me grief", ranking) == (
        "faq_conditions_treated"
    )


def test_a_classifier_emergency_with_a_symptom_word_stands(guard):
    ranking = ["emergency", "faq_side_effects"]
    assert guard.classify("something is badly wrong with my heart", ranking) is None


def test_demoted_emergency_keeps_the_runner_up_confidence(guard):
    message = Message(
        data={
            "text": "my feet are done in after work",
            "intent": {"name": "emergency", "confidence": 0.6},
            "intent_ranking": [
                {"name": "emergency", "confidence": 0.6},
                {"name": "faq_conditions_treated", "confidence": 0.3},
            ],
        }
    )
    [processed] = guard.process([message])
    assert processed.get("intent") == {
        "name": "faq_conditions_treated",
        "confidence": 0.3,
    }


@pytest.mark.parametrize(
    "text, predicted",
    [
        ("does it hurt more if you're pregnant?", "faq_does_it_hurt"),
        ("Side Effects Of Dry Needling On Warfarin", "faq_side_effects"),
        ("can kids have it", "faq_is_it_for_me"),
        ("who shouldn't get dry needling", "faq_is_it_for_me"),
        ("contraindications?", "faq_side_effects"),
        ("is needling ok with a pacemaker", "nlu_fallback"),
        ("my 15 year old daughter has shin splints, will it help", "faq_benefits"),
        ("does it work for diabetic nerve pain", "faq_conditions_treated"),
        ("haemophilia here, can I get my calf needled", "book_appointment"),
        ("safe while nursing my newborn?", "faq_side_effects"),
    ],
)
def test_safety_questions_never_get_an_article_answer(guard, text, predicted):
    assert guard.classify(text, [predicted, "faq_benefits"]) == "personal_advice"


@pytest.mark.parametrize(
    "text, predicted",
    [
        ("is dry needling safe?", "faq_side_effects"),
        ("is minor bruising normal after", "faq_side_effects"),
        ("who does the dry needling at your clinic", "faq_who_provides"),
        ("what medical conditions can it treat", "faq_conditions_treated"),
        ("can I bring my kids to the appointment", "what_to_bring"),
        ("is it based on western medicine", "faq_vs_acupuncture"),
        ("I'm pregnant, can I book a massage", "book_appointment"),
        ("my son has epilepsy", "nlu_fallback"),
    ],
)
def test_other_questions_keep_their_intent(guard, text, predicted):
    assert guard.classify(text, [predicted, "faq_benefits"]) in (None, predicted)


def test_an_emergency_still_wins_over_a_safety_question(guard):
    text = "I'm pregnant and I have crushing chest pain right now"
    assert guard.classify(text, ["faq_side_effects"]) == "emergency"


@pytest.mark.parametrize(
    "text, ranking",
    [
        ("Imogen", ["personal_advice", "faq_evidence"]),
        ("Lily", ["session_plan", "faq_needle_duration"]),
        ("evie", ["faq_evidence", "inform"]),
        ("It's Lachlan.", ["faq_what_is_dry_needling"]),
        ("Priya Sharma", ["nlu_fallback"]),
    ],
)
def test_a_bare_first_name_is_someone_giving_their_name(guard, text, ranking):
    assert guard.classify(text, ranking) == "inform"


@pytest.mark.parametrize(
    "text, ranking",
    [
        ("Lily, how long is a session?", ["session_plan"]),
        ("side effects", ["faq_side_effects"]),
        ("Max pain after needling, is that normal?", ["faq_side_effects"]),
        ("hope so", ["affirm"]),
    ],
)
def test_a_name_inside_a_question_leaves_the_question(guard, text, ranking):
    assert guard.classify(text, ranking) is None


def test_a_red_flag_is_never_taken_for_a_name(guard):
    assert guard.classify("Sam can't breathe", ["inform"]) == "emergency"
