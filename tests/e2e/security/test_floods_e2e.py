"""A flood from one sender or one address is answered, never dropped: every
message gets a reply or a clear "slow down" (429 with Retry-After on REST
and the webhooks, "one moment" on the widget), and what a provider is told
to send again is handled when it does."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.channels.floods import BUSY_REPLY
from tests.chat import Widget
from tests.e2e import test_channels_e2e as wire
from tests.e2e.security.test_takeover_e2e import telegram_update


@pytest.fixture(scope="module")
def servers(channel_servers):
    return channel_servers


def post_rest(servers, sender: str, text: str) -> requests.Response:
    return requests.post(
        f"{servers.url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        timeout=120,
    )


def check_answered_or_told_to_wait(responses: list[requests.Response]) -> int:
    """Every response is a real answer or a 429; the number answered."""
    answered = 0
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) > 0
            assert "again" in response.json()["error"]
            continue
        assert response.status_code == 200, response.text
        assert response.json(), "an empty reply"
        assert all(m.get("text") or m.get("buttons") for m in response.json())
        answered += 1
    return answered


def test_200_messages_at_once_from_one_sender(servers):
    sender = "flood-" + uuid.uuid4().hex[:8]
    with ThreadPoolExecutor(max_workers=200) as pool:
        responses = list(
            pool.map(lambda _: post_rest(servers, sender, "does it hurt?"), range(200))
        )
    answered = check_answered_or_told_to_wait(responses)
    assert 1 <= answered < 200
    assert sum(r.status_code == 429 for r in responses) == 200 - answered
    assert wire.user_texts(servers, f"rest:{sender}") == ["does it hurt?"] * answered
    # and the sender can go on normally afterwards
    later = post_rest(servers, sender, "what is a trigger point?")
    assert later.status_code == 200 and later.json()


def test_many_senders_from_one_address_are_bounded_too(servers):
    senders = ["addr-" + uuid.uuid4().hex[:8] for _ in range(120)]
    with ThreadPoolExecutor(max_workers=120) as pool:
        responses = list(
            pool.map(lambda s: post_rest(servers, s, "does it hurt?"), senders)
        )
    answered = check_answered_or_told_to_wait(responses)
    assert answered >= 1
    assert any(r.status_code == 429 for r in responses)
    for sender, response in zip(senders, responses, strict=True):
        stored = wire.user_texts(servers, f"rest:{sender}")
        assert stored == (["does it hurt?"] if response.status_code == 200 else [])


def test_the_widget_says_one_moment_instead_of_dropping(servers):
    with Widget(servers) as widget:
        conversation = f"web:{widget.request_session(None)}"
        for _ in range(4):
            # Bursts of 10: each reaches the server in one or two polling
            # POSTs, so its messages are in work together however fast the
            # server answers (one at a time, 20 ms apart, a quick server
            # finished each before the next came). engine.io refuses a POST
            # of more than 16 packets outright.
            for _ in range(10):
                widget.client.emit("user_uttered", {"message": "does it hurt?"})
            time.sleep(0.3)
        stored, busy = [], []
        for _ in range(240):
            stored = wire.user_texts(servers, conversation)
            busy = [t for t in widget.texts() if t == BUSY_REPLY]
            if len(stored) + len(busy) == 40:
                break
            time.sleep(0.5)
        answers = [t for t in widget.texts() if t != BUSY_REPLY]
    counts = f"{len(stored)} answered, {len(busy)} told to wait"
    assert busy, f"the flood was never told to wait: {counts}"
    assert stored, f"nothing of the flood was answered: {counts}"
    assert len(stored) + len(busy) == 40, counts
    assert len(answers) >= len(stored)


def test_telegram_is_told_to_retry_and_the_retry_is_handled(servers, providers):
    chat_id = int(str(uuid.uuid4().int)[:9])
    updates = [telegram_update(chat_id, f"does it hurt? ({i})") for i in range(30)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(
            pool.map(
                lambda u: wire.tg_post(servers, u, wire.TG_SECRET).status_code, updates
            )
        )
    assert set(statuses) <= {200, 429} and 429 in statuses
    refused = [u for u, s in zip(updates, statuses, strict=True) if s == 429]
    for update in refused:  # Telegram delivers again, one at a time
        assert wire.tg_post(servers, update, wire.TG_SECRET).status_code == 200
    for update in updates:  # and a delivery already handled stays handled
        assert wire.tg_post(servers, update, wire.TG_SECRET).status_code == 200
    stored = wire.user_texts(servers, f"telegram:{chat_id}")
    assert sorted(stored) == sorted(u["message"]["text"] for u in updates)


def test_whatsapp_is_told_to_retry(servers):
    sender = wire.whatsapp_number()
    with ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(
            pool.map(
                lambda i: wire.whatsapp_says(servers, sender, f"hi {i}"), range(30)
            )
        )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429} and 429 in statuses
    assert all(r.headers.get("Retry-After") for r in responses if r.status_code == 429)
    assert len(wire.user_texts(servers, sender)) == statuses.count(200)
