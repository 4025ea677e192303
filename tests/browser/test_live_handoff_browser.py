"""Reception and a patient in two Chromium windows: the patient asks the
widget for a person, a staff member logs in to the console, takes the chat
from the live queue and replies; the reply appears in the widget, the
patient's answer appears in the console without a reload, and after the
hand-back the assistant answers again."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from bot import PROJECT_ROOT
from bot.console.accounts import Accounts
from tests.browser.conftest import Watched

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
PASSWORD = "correct horse battery"


def test_staff_chat_with_a_widget_patient_then_hand_back(servers, browser, database):
    Accounts(database).add("anna@clinic.example", PASSWORD, "Anna")
    patient_context = browser.new_context(viewport={"width": 1280, "height": 800})
    staff_context = browser.new_context(viewport={"width": 1280, "height": 900})
    patient, staff = Watched(patient_context.new_page()), Watched(
        staff_context.new_page()
    )
    widget = patient.page
    log = widget.get_by_role("log", name="Conversation")
    box = widget.get_by_role("textbox", name="Your message")

    def patient_says(text: str) -> None:
        box.fill(text)
        box.press("Enter")
        expect(log.locator(".msg-user").last).to_have_text(f"You: {text}")

    try:
        widget.goto(servers.web_url)
        widget.get_by_role("button", name="Chat with us").click()
        expect(log.locator(".msg-bot").first).to_be_visible()
        patient_says("does dry needling hurt?")
        expect(log.locator(".msg-bot").last).to_contain_text("cramp")
        patient_says("can I talk to a real person please")
        expect(log.locator(".msg-bot").last).to_contain_text("A person will reply")

        console = staff.page
        console.goto(f"{servers.web_url}/staff/login")
        console.get_by_label("Email").fill("anna@clinic.example")
        console.get_by_label("Password").fill(PASSWORD)
        console.get_by_role("button", name="Log in").click()
        console.get_by_role("link", name="Live chats").click()
        waiting = console.get_by_role("row").filter(has_text="website chat")
        expect(waiting).to_contain_text("waiting")
        waiting.get_by_role("link").click()
        expect(console.get_by_role("list", name="Conversation")).to_contain_text(
            "can I talk to a real person please"
        )
        console.get_by_role("button", name="Take this chat").click()
        expect(log.locator(".msg-bot").last).to_have_text(
            re.compile("You're now chatting with Anna from reception")
        )

        reply = console.get_by_label("Your reply")
        expect(reply).to_be_focused()
        reply.fill("Hi, Anna here. Happy to help with your shoulder.")
        console.get_by_role("button", name="Send").click()
        expect(log.locator(".msg-bot").last).to_contain_text(
            "Hi, Anna here. Happy to help with your shoulder."
        )

        # The patient's answer reaches the console without a reload.
        patient_says("thanks Anna, is Thursday ok?")
        expect(console.locator("#transcript")).to_contain_text(
            "thanks Anna, is Thursday ok?", timeout=10_000
        )
        ARTIFACTS.mkdir(exist_ok=True)
        console.screenshot(path=ARTIFACTS / "console-live-chat.png", full_page=True)
        widget.screenshot(path=ARTIFACTS / "widget-live-chat.png")

        console.get_by_role("button", name="Hand back to the assistant").click()
        expect(console.get_by_role("heading", name="Live chats")).to_be_visible()
        expect(log.locator(".msg-bot").last).to_contain_text(
            "You're back with the assistant"
        )
        patient_says("what are the side effects")
        expect(log.locator(".msg-bot").last).to_contain_text(
            re.compile("bruis|sore|tender", re.I)
        )
        patient.assert_clean()
        staff.assert_clean()
    finally:
        patient_context.close()
        staff_context.close()
