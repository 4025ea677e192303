"""End to end: the real Rasa and action servers, driven over HTTP."""

from __future__ import annotations

import uuid

import pytest
import requests

from bot import PROJECT_ROOT
from tests.servers import MODEL, TOKEN, Servers


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not MODEL.exists():
        pytest.fail("no trained model; run `make train`")
    root = tmp_path_factory.mktemp("e2e")
    servers = Servers(root / "conversations.db", root / "servers.log")
    servers.start()
    yield servers
    servers.stop()


def sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


def texts(messages: list[dict]) -> list[str]:
    return [m.get("text", "") for m in messages]


def test_does_it_hurt_answer_with_disclaimer_and_quick_replies(servers):
    messages = servers.say(sender(), "dose it hurt??")
    assert "not a diagnosis" in messages[0]["text"]
    answer = messages[-1]
    assert "cramp" in answer["text"] and "2 days" in answer["text"]
    payloads = [b["payload"] for b in answer["buttons"]]
    assert payloads == ["/faq_side_effects", "/faq_aftercare", "/book_appointment"]


def test_disclaimer_is_given_once_per_conversation(servers):
    user = sender()
    first = texts(servers.say(user, "what is dry needling"))
    second = texts(servers.say(user, "dry needling vs acupunture??"))
    assert sum("not a diagnosis" in t for t in first + second) == 1
    assert "Traditional Chinese Medicine" in second[-1]


def test_quick_reply_payload_answers_its_topic(servers):
    messages = servers.say(sender(), "/faq_aftercare")
    assert "drink water, do some gentle stretching" in messages[-1]["text"]


def test_emergency_mid_conversation_gets_only_emergency_advice(servers):
    user = sender()
    servers.say(user, "how long do the needles stay in")
    messages = servers.say(user, "i have crushing chest pain and cant breathe")
    assert len(messages) == 1
    assert "000" in messages[0]["text"] and "13 11 14" in messages[0]["text"]
    assert "buttons" not in messages[0]


def test_named_condition_is_checked_against_the_article(servers):
    messages = servers.say(sender(), "can dry needling help my sciatica")
    assert "includes sciatica in its list" in messages[-1]["text"]
    messages = servers.say(sender(), "would needling help plantar fasciitis")
    assert "doesn't name plantar fasciitis" in messages[-1]["text"]


def test_personal_question_goes_to_a_physio(servers):
    messages = servers.say(
        sender(), "is dry needling safe if you're on blood thinners?"
    )
    assert "free initial assessment" in messages[-1]["text"]
    assert not any("bruising" in m.get("text", "") for m in messages)


def test_a_cost_question_is_answered_from_the_clinics_file(servers):
    from bot.clinic.facts import load_clinic

    clinic = load_clinic(PROJECT_ROOT / "clinic.yml")  # these servers' settings
    question = "how much does it cost with my health fund"
    said = " ".join(texts(servers.say(sender(), question)))
    facts = [*clinic.prices, clinic.rebates["private_health"]]
    assert any(fact in said for fact in facts), said


def test_other_languages_get_an_english_reply(servers):
    messages = servers.say(sender(), "¿La punción seca duele mucho?")
    assert texts(messages) == [
        "Sorry, I can only answer in English. Please ask your question in "
        "English, or call the clinic and the team will help."
    ]


def test_out_of_scope_gets_the_scope_statement(servers):
    messages = servers.say(sender(), "what's the weather in brisbane tomorrow")
    assert "outside what I can help with" in messages[-1]["text"]


def test_parse_returns_contract_intent_names(servers):
    cases = {
        "does dry needling hurt": "faq_does_it_hurt",
        "what's a trigger point": "faq_what_is_trigger_point",
        "I want to book an appointment": "book_appointment",
        "I think I'm having a stroke": "emergency",
    }
    for text, intent in cases.items():
        parsed = requests.post(
            f"{servers.url}/model/parse",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"text": text},
            timeout=30,
        ).json()
        assert parsed["intent"]["name"] == intent, text


PROTECTED = [
    ("post", "/model/parse", {"text": "hi"}),
    ("get", "/conversations/someone/tracker", None),
    ("post", "/conversations/someone/messages", {"text": "hi", "sender": "user"}),
    ("post", "/conversations/someone/tracker/events", [{"event": "pause"}]),
    ("post", "/conversations/someone/trigger_intent", {"name": "greet"}),
    ("get", "/conversations/someone/story", None),
    ("post", "/conversations/someone/predict", None),
    ("put", "/model", {"model_file": "models/faq.tar.gz"}),
    ("delete", "/model", None),
    ("get", "/domain", None),
    ("get", "/status", None),
]


@pytest.mark.parametrize("method, path, body", PROTECTED)
def test_the_api_needs_the_token_in_the_header(servers, method, path, body):
    """The right token in the URL (where proxies log it) is refused too."""
    attempts = [
        ({}, {}),
        ({"token": "wrong"}, {}),
        ({"token": TOKEN}, {}),
        ({}, {"Authorization": "Bearer wrong"}),
        ({}, {"Authorization": TOKEN}),
        ({"token": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}),
    ]
    for params, headers in attempts:
        response = requests.request(
            method,
            f"{servers.url}{path}",
            params=params,
            headers=headers,
            json=body,
            timeout=30,
        )
        assert response.status_code == 401, (path, params, headers)
    if params:
        assert "Authorization" in response.json()["message"]


def test_the_api_works_with_the_token(servers):
    user = sender()
    servers.say(user, "hello")
    tracker = requests.get(
        f"{servers.url}/conversations/rest:{user}/tracker",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert tracker.ok and tracker.json()["sender_id"] == f"rest:{user}"


def test_conversation_survives_a_restart(servers):
    user = sender()
    first = texts(servers.say(user, "what is a trigger point"))
    assert any("not a diagnosis" in t for t in first)
    servers.stop()
    servers.start()
    again = texts(servers.say(user, "does it hurt"))
    assert not any("not a diagnosis" in t for t in again)
    assert "cramp" in again[-1]
