"""End to end: the real Rasa and action servers, driven over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from bot import PROJECT_ROOT

MODEL = PROJECT_ROOT / "models" / "faq.tar.gz"
TOKEN = "e2e-test-token"
START_TIMEOUT = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Servers:
    """``python -m bot serve`` in its own process group, restartable."""

    def __init__(self, tracker_db: Path, log: Path):
        self.rasa_port = free_port()
        self.action_port = free_port()
        self.tracker_db = tracker_db
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "RASA_PORT": str(self.rasa_port),
            "ACTION_PORT": str(self.action_port),
            "TRACKER_DB": str(self.tracker_db),
            "RASA_API_TOKEN": TOKEN,
            "MODEL_PATH": str(MODEL),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"servers exited; see {self.log}")
            if self._ready():
                return
            time.sleep(1)
        raise RuntimeError(f"servers not ready after {START_TIMEOUT}s; see {self.log}")

    def _ready(self) -> bool:
        try:
            status = requests.get(
                f"{self.url}/status", params={"token": TOKEN}, timeout=2
            )
            health = requests.get(
                f"http://127.0.0.1:{self.action_port}/health", timeout=2
            )
        except requests.RequestException:
            return False
        return status.ok and health.ok

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def say(self, sender: str, text: str) -> list[dict]:
        response = requests.post(
            f"{self.url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()


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
    assert "drink plenty of water" in messages[-1]["text"]


def test_emergency_mid_conversation_gets_only_emergency_advice(servers):
    user = sender()
    servers.say(user, "how long do the needles stay in")
    messages = servers.say(user, "i have crushing chest pain and cant breathe")
    assert len(messages) == 1
    assert "000" in messages[0]["text"] and "13 11 14" in messages[0]["text"]
    assert "buttons" not in messages[0]


def test_named_condition_is_checked_against_the_article(servers):
    messages = servers.say(sender(), "can dry needling help my sciatica")
    assert "lists sciatica" in messages[-1]["text"]
    messages = servers.say(sender(), "would needling help plantar fasciitis")
    assert "doesn't name plantar fasciitis" in messages[-1]["text"]


def test_personal_question_goes_to_a_physio(servers):
    messages = servers.say(sender(), "how much does it cost with my health fund")
    assert "free initial assessment" in messages[-1]["text"]


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
            params={"token": TOKEN},
            json={"text": text},
            timeout=30,
        ).json()
        assert parsed["intent"]["name"] == intent, text


def test_parse_needs_the_token(servers):
    response = requests.post(
        f"{servers.url}/model/parse", json={"text": "hi"}, timeout=30
    )
    assert response.status_code == 401


def test_conversation_survives_a_restart(servers):
    user = sender()
    first = texts(servers.say(user, "what is a trigger point"))
    assert any("not a diagnosis" in t for t in first)
    servers.stop()
    servers.start()
    again = texts(servers.say(user, "does it hurt"))
    assert not any("not a diagnosis" in t for t in again)
    assert "cramp" in again[-1]
