"""A live handoff attacked through its channels and its ids, against the
real servers.

The attacker is a REST client who knows (or guesses) another patient's id
on the widget, WhatsApp, Messenger or Telegram and claims that channel in
``input_channel``, then asks for a person: reception must see a REST chat,
and nothing a staff member writes in it may reach the other patient. With
Rasa's API token (the console's own calls), output on any channel but the
conversation's own is refused. And a REST sender whose id holds spaces,
slashes, ``%``, unicode or 250 characters gets the whole live handoff: staff
read the real conversation, reply into it, hand it back, and the timer's
callback offer lands in it, so nobody is left in a paused chat."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from bot.handoff.rasa_api import conversation_path
from tests.chat import Chat, collect, fold
from tests.e2e import test_live_handoff_e2e as live_handoff
from tests.e2e.test_live_handoff_e2e import WAIT_SECONDS, Reception, received
from tests.servers import TOKEN, say

VICTIM_CHANNELS = ["socketio", "whatsapp", "messenger", "telegram"]
RASA_NAMES = {"messenger": "facebook"}


# The real servers with every channel and a short wait for a person, as
# the live handoff tests have them (started again for this module).
live_servers = live_handoff.live_servers


def api(servers, method: str, conversation: str, path: str, **kwargs):
    return requests.request(
        method,
        f"{servers.url}/conversations/{conversation_path(conversation)}/{path}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
        **kwargs,
    )


def user_texts(servers, conversation: str) -> list[str]:
    events = api(servers, "GET", conversation, "tracker").json()["events"]
    return [e["text"] for e in events if e["event"] == "user"]


def bot_texts(servers, conversation: str) -> list[str]:
    events = api(servers, "GET", conversation, "tracker").json()["events"]
    return [e.get("text") or "" for e in events if e["event"] == "bot"]


def paused(servers, conversation: str) -> bool:
    return api(servers, "GET", conversation, "tracker").json()["paused"]


@pytest.mark.parametrize("victim_channel", VICTIM_CHANNELS)
def test_a_rest_client_claiming_another_channel_reaches_nobody(
    victim_channel, live_servers, providers, database
):
    victim = Chat(victim_channel, live_servers, providers)
    jo = Reception(live_servers, database, "jo@clinic.example", "Jo")
    try:
        assert victim.send("hi, does dry needling hurt?")
        claimed = RASA_NAMES.get(victim_channel, victim_channel)
        response = requests.post(
            f"{live_servers.url}/webhooks/rest/webhook",
            json={
                "sender": victim.id,
                "message": "can I talk to a real person please",
                "input_channel": claimed,
            },
            timeout=30,
        )
        assert response.status_code == 200
        assert any("a person will reply" in fold(m["text"]) for m in response.json())
        handoff = jo.waiting(f"rest:{victim.id}")
        assert handoff["channel"].startswith("REST API"), handoff
        assert all(
            h["conversation"] != victim.conversation
            for h in jo.get("/staff/handoffs.json").json()["open"]
        )

        before = len(received(victim))
        taken = jo.post(f"/staff/handoffs/{handoff['id']}/take")
        assert taken.status_code == 303
        secret = f"staff-only words {uuid.uuid4().hex[:8]}"
        jo.post(f"/staff/handoffs/{handoff['id']}/reply", text=secret)
        jo.post(f"/staff/handoffs/{handoff['id']}/return")
        assert collect(lambda: received(victim), before, 3) == []
        assert not any(
            secret in t for t in bot_texts(live_servers, victim.conversation)
        )
        assert any(
            secret in t for t in bot_texts(live_servers, f"rest:{victim.id}")
        ), "the staff reply is kept in the attacker's own conversation"
    finally:
        victim.close()


@pytest.mark.parametrize(
    "home, asked",
    [
        (home, asked)
        for home in VICTIM_CHANNELS
        for asked in ("socketio", "whatsapp", "facebook", "telegram")
        if RASA_NAMES.get(home, home) != asked
    ],
)
def test_the_api_refuses_output_on_another_channel(
    home, asked, live_servers, providers
):
    patient = Chat(home, live_servers, providers)
    try:
        assert patient.send("hello")
        before = len(received(patient))
        response = api(
            live_servers,
            "POST",
            patient.conversation,
            "tracker/events",
            params={"output_channel": asked, "execute_side_effects": "true"},
            json=[{"event": "bot", "text": "sent on the wrong channel"}],
        )
        assert response.status_code == 400, response.text
        assert "sent on the wrong channel" not in bot_texts(
            live_servers, patient.conversation
        )
        assert collect(lambda: received(patient), before, 1) == []
    finally:
        patient.close()


ODD_SENDERS = {
    "space": "john smith {n}",
    "slash": "ward/bed 4 {n}",
    "percent": "100% sure %2F %41 {n}",
    "unicode": "Zoë 🙂 {n}",
    "query characters": "who?what#where&x=1 {n}",
    "long": "{n}" + "x" * 240,
}


@pytest.mark.parametrize("kind", sorted(ODD_SENDERS))
def test_any_sender_gets_the_whole_live_handoff(kind, live_servers, database):
    sender = ODD_SENDERS[kind].format(n=uuid.uuid4().hex[:6])
    conversation = f"rest:{sender}"
    jo = Reception(live_servers, database, "jo@clinic.example", "Jo")
    assert say(live_servers.url, sender, "what is a trigger point?")
    assert say(live_servers.url, sender, "can I talk to a real person please")
    assert paused(live_servers, conversation)
    handoff = jo.waiting(conversation)

    transcript = jo.transcript(handoff["id"])
    assert ("Patient", "what is a trigger point?") in transcript, transcript
    assert jo.post(f"/staff/handoffs/{handoff['id']}/take").status_code == 303
    reply = f"Jo here for {kind}"
    sent = jo.post(f"/staff/handoffs/{handoff['id']}/reply", text=reply)
    assert "problem" not in sent.headers["Location"]
    assert ("Jo", reply) in jo.transcript(handoff["id"])
    back = jo.post(f"/staff/handoffs/{handoff['id']}/return")
    assert back.headers["Location"] == "/staff/handoffs"
    assert not paused(live_servers, conversation)
    answer = say(live_servers.url, sender, "what are the side effects")
    assert any("bruis" in fold(m["text"]) or "sore" in fold(m["text"]) for m in answer)
    assert user_texts(live_servers, conversation)[0] == "what is a trigger point?"


def test_the_callback_offer_reaches_an_odd_id(live_servers, database):
    sender = f"ward/bed 7 {uuid.uuid4().hex[:6]} 50%"
    conversation = f"rest:{sender}"
    assert say(live_servers.url, sender, "I want to speak to a human")
    assert paused(live_servers, conversation)
    deadline = time.monotonic() + WAIT_SECONDS + 30
    while time.monotonic() < deadline and paused(live_servers, conversation):
        time.sleep(0.5)
    assert not paused(live_servers, conversation), "still paused after the wait"
    assert any(
        "nobody at reception is free" in fold(t)
        for t in bot_texts(live_servers, conversation)
    )
    answer = say(live_servers.url, sender, "does it hurt?")
    assert answer, "the assistant answers again"


def test_one_conversation_asking_again_and_again_is_asked_to_call(
    live_servers, database
):
    """Each handoff emails staff: the fourth request within the hour from
    one conversation is told to call instead, and nobody is paused."""
    sender = f"again-{uuid.uuid4().hex[:6]}"
    conversation = f"rest:{sender}"
    jo = Reception(live_servers, database, "jo@clinic.example", "Jo")
    for _ in range(3):
        asked = say(live_servers.url, sender, "can I talk to a real person please")
        assert any("a person will reply" in fold(m["text"]) for m in asked), asked
        handoff = jo.waiting(conversation)
        jo.post(f"/staff/handoffs/{handoff['id']}/return")
        assert not paused(live_servers, conversation)
    again = say(live_servers.url, sender, "can I talk to a real person please")
    assert any("several times" in fold(m["text"]) for m in again), again
    assert not paused(live_servers, conversation)
    assert all(
        h["conversation"] != conversation
        for h in jo.get("/staff/handoffs.json").json()["open"]
    )
