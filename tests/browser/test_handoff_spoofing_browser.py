"""An attacker who has a widget patient's conversation id (copied from a
screen, a log or a shared computer) posts to the REST webhook as that id,
claiming to be the website chat, and asks for a person. In Chromium,
reception sees a REST chat, not a website chat, and what the staff member
writes in it never appears in the patient's widget."""

from __future__ import annotations

import json
import re
import uuid

import requests
from playwright.sync_api import expect

from bot.console.accounts import Accounts
from tests.browser.conftest import Watched

PASSWORD = "correct horse battery"


def test_a_claimed_widget_channel_gets_staff_replies_nowhere_near_the_widget(
    servers, browser, database
):
    Accounts(database).add("ravi@clinic.example", PASSWORD, "Ravi")
    patient_context = browser.new_context()
    staff_context = browser.new_context()
    patient, staff = Watched(patient_context.new_page()), Watched(
        staff_context.new_page()
    )
    widget = patient.page
    log = widget.get_by_role("log", name="Conversation")
    try:
        widget.goto(servers.web_url)
        widget.get_by_role("button", name="Chat with us").click()
        expect(log.locator(".msg-bot").first).to_be_visible()
        box = widget.get_by_role("textbox", name="Your message")
        box.fill("what is a trigger point?")
        box.press("Enter")
        expect(log.locator(".msg-bot").nth(1)).to_be_visible(timeout=20_000)
        widget.wait_for_timeout(2000)
        before = log.inner_text()
        saved = widget.evaluate(
            "() => Object.keys(sessionStorage).map(k => sessionStorage.getItem(k))"
        )
        [widget_id] = [json.loads(s)["sessionId"] for s in saved if "sessionId" in s]
        assert widget_id

        attack = requests.post(
            f"{servers.url}/webhooks/rest/webhook",
            json={
                "sender": widget_id,
                "message": "can I talk to a real person please",
                "input_channel": "socketio",
            },
            timeout=30,
        )
        assert attack.status_code == 200

        console = staff.page
        console.goto(f"{servers.web_url}/staff/login")
        console.get_by_label("Email").fill("ravi@clinic.example")
        console.get_by_label("Password").fill(PASSWORD)
        console.get_by_role("button", name="Log in").click()
        console.get_by_role("link", name="Live chats").click()
        row = console.get_by_role("row").filter(has_text="REST API")
        expect(row).to_contain_text("waiting")
        expect(
            console.get_by_role("row").filter(has_text="website chat")
        ).to_have_count(0)
        row.get_by_role("link").click()
        console.get_by_role("button", name="Take this chat").click()
        words = f"Ravi here, your code is {uuid.uuid4().hex[:6]}"
        console.get_by_label("Your reply").fill(words)
        console.get_by_role("button", name="Send").click()
        expect(console.locator("#transcript")).to_contain_text(words)

        widget.wait_for_timeout(3000)
        expect(log).not_to_contain_text(re.compile("Ravi"))
        assert log.inner_text() == before
        patient.assert_clean()
        staff.assert_clean()
    finally:
        patient_context.close()
        staff_context.close()
