"""The console's live chats, as a staff member trying what they should not
and as an attacker with odd URLs: only the one who took a chat hands it
back, odd ids are "no such chat" (never a 500), the channel shown is the
one the conversation was opened on, and the audit log keeps which
conversation an entry was about."""

from __future__ import annotations

import pytest

from bot.conversation_ids import handle
from bot.handoff.queue import ACTIVE, RETURNED
from tests.unit import test_console_live as live
from tests.unit.test_console_live import post, staff

# The console with a stand-in of Rasa's API, as test_console_live has it.
rasa, console = live.rasa, live.console

CONVERSATION = "telegram:4242"


async def test_a_colleague_cannot_hand_back_a_chat_someone_has(console, rasa):
    h = console.queue.request(CONVERSATION, "telegram", "k1")
    jo, jo_csrf = await staff(console)
    sam, sam_csrf = await staff(console, "other@clinic.example")
    await post(console, f"/staff/handoffs/{h.id}/take", jo, jo_csrf)
    calls = len(rasa.calls)
    refused = await post(console, f"/staff/handoffs/{h.id}/return", sam, sam_csrf)
    assert refused.headers["Location"].endswith("?problem=not_yours_to_return")
    assert console.queue.get(h.id).status == ACTIVE and len(rasa.calls) == calls
    page = await (await console.get(f"/staff/handoffs/{h.id}", headers=sam)).text()
    assert "Hand back to the assistant" not in page
    mine = await post(console, f"/staff/handoffs/{h.id}/return", jo, jo_csrf)
    assert mine.headers["Location"] == "/staff/handoffs"
    assert console.queue.get(h.id).status == RETURNED


async def test_anyone_can_hand_back_a_chat_nobody_has_taken(console, rasa):
    h = console.queue.request(CONVERSATION, "telegram", "k1")
    sam, sam_csrf = await staff(console, "other@clinic.example")
    back = await post(console, f"/staff/handoffs/{h.id}/return", sam, sam_csrf)
    assert back.headers["Location"] == "/staff/handoffs"
    assert console.queue.get(h.id).status == RETURNED


@pytest.mark.parametrize(
    "path",
    [
        "/staff/handoffs/99999999999999999999999999",
        "/staff/handoffs/9223372036854775808.json",
        "/staff/handoffs/0",
        "/staff/handoffs/00000000000000000000000000000001x",
        "/staff/handoffs/-1",
        "/staff/handoffs/%31",
    ],
)
async def test_odd_chat_ids_are_no_such_chat(console, path):
    headers, _ = await staff(console)
    response = await console.get(path, headers=headers, allow_redirects=False)
    assert response.status == 404


async def test_a_huge_id_posted_to_is_no_such_chat(console):
    headers, csrf = await staff(console)
    for action in ("take", "reply", "return"):
        response = await post(
            console, f"/staff/handoffs/{2**70}/{action}", headers, csrf, text="x"
        )
        assert response.status == 404


async def test_the_channel_shown_is_the_conversations_not_the_stored_claim(console):
    """A row from before the fix may hold the channel a REST client claimed."""
    h = console.queue.request("rest:abc", "socketio", "k1")
    headers, _ = await staff(console)
    data = await (await console.get("/staff/handoffs.json", headers=headers)).json()
    [listed] = [o for o in data["open"] if o["id"] == h.id]
    assert listed["channel"].startswith("REST API")
    page = await (await console.get(f"/staff/handoffs/{h.id}", headers=headers)).text()
    assert "website chat" not in page


async def test_the_audit_log_names_the_conversation_without_its_id(console, rasa):
    conversation = "web:AbCdEfGhIjKlMnOpQrStUvWx.AbCdEfGhIjKlMnOpQrStUv"
    h = console.queue.request(conversation, "socketio", "k1")
    headers, csrf = await staff(console)
    await post(console, f"/staff/handoffs/{h.id}/take", headers, csrf)
    console.queue.forget([conversation])
    [took] = [e for e in console.accounts.audit_log() if e.action == "took a chat"]
    assert took.target == f"chat {h.id} ({handle(conversation)})"
    assert conversation not in took.target and "AbCdEf" not in took.target
    assert console.queue.open() == []
