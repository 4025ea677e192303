"""The website chat widget in a real browser: Debian's Chromium, driven by
Playwright, against the real servers (`python -m bot serve`)."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import websockets
from playwright.sync_api import Page, expect

from bot import PROJECT_ROOT
from bot.booking.reference import looks_like_reference
from bot.booking.store import BookingStore
from tests.servers import Servers

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
FOREIGN = "http://evil.example"
XSS = "<img src=x onerror=alert(1)>"
REFERENCE = re.compile(r"reference is (DN-[A-Z0-9]{4})")


def launcher(page: Page):
    return page.get_by_role("button", name=re.compile("^(Chat with us|Hide chat)$"))


def conversation(page: Page):
    return page.get_by_role("log", name="Conversation")


def reply_button(page: Page, title: str):
    return page.get_by_role("group", name="Suggested replies").get_by_role(
        "button", name=title, exact=True
    )


def message_box(page: Page):
    return page.get_by_role("textbox", name="Your message")


def typing(page: Page):
    return page.locator(".typing")


def say(page: Page, text: str, expected: str) -> None:
    message_box(page).fill(text)
    message_box(page).press("Enter")
    expect(conversation(page).locator(".msg-user").last).to_have_text(f"You: {text}")
    expect(conversation(page).locator(".msg-bot").last).to_contain_text(expected)


def open_chat(page: Page, url: str) -> None:
    page.goto(url)
    launcher(page).click()
    greeting = conversation(page).locator(".msg-bot").first
    expect(greeting).to_contain_text("I'm the clinic's assistant")


def test_greeting_faq_quick_reply_booking_reload(servers, desktop, database):
    page = desktop.page
    open_chat(page, servers.web_url)
    for title in ("What is dry needling?", "Does it hurt?", "Book a free assessment"):
        expect(reply_button(page, title)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "widget-desktop-greeting.png")

    message_box(page).fill("does it hurt?")
    message_box(page).press("Enter")
    expect(typing(page)).to_be_visible()
    expect(conversation(page)).to_contain_text("cramp")
    expect(typing(page)).to_be_hidden()
    expect(reply_button(page, "Does it hurt?")).to_have_count(0)

    reply_button(page, "Aftercare").click()
    expect(conversation(page).locator(".msg-user").last).to_have_text("You: Aftercare")
    expect(conversation(page)).to_contain_text("drink water, do some gentle stretching")

    say(page, "I'd like to book a free assessment", "first name")
    say(page, "Priya", "phone number")
    say(page, "0412 345 678", "email")
    say(page, "skip", "When suits you")
    say(page, "any time", "help with")
    say(page, "sore lower back from work", "agree to the clinic contacting you")
    say(page, "yes", "reference is DN-")
    done = conversation(page).locator(".msg-bot").last.inner_text()
    reference = REFERENCE.search(done).group(1)
    assert looks_like_reference(reference)
    [row] = [b for b in BookingStore(database).list() if b.reference == reference]
    assert (row.name, row.phone, row.channel) == ("Priya", "+61412345678", "socketio")
    page.screenshot(path=ARTIFACTS / "widget-desktop.png")

    page.reload()
    expect(conversation(page)).to_contain_text(reference)
    expect(conversation(page)).to_contain_text("does it hurt?")
    say(page, "does it hurt?", "cramp")

    answers = conversation(page).locator(".msg-bot")
    before = answers.count()
    message_box(page).fill(XSS)
    message_box(page).press("Enter")
    sent = conversation(page).locator(".msg-user").last
    expect(sent).to_have_text(f"You: {XSS}")
    expect(answers.nth(before)).to_be_attached()
    assert page.locator('img[src="x"]').count() == 0
    page.screenshot(path=ARTIFACTS / "widget-desktop-reload.png")
    page.reload()
    expect(conversation(page).locator(".msg-user").last).to_have_text(f"You: {XSS}")
    assert page.locator('img[src="x"]').count() == 0
    desktop.assert_clean()


def test_keyboard_only(servers, desktop):
    page = desktop.page
    page.goto(servers.web_url)
    button = launcher(page)
    for _ in range(30):
        page.keyboard.press("Tab")
        if button.evaluate("b => b.getRootNode().activeElement === b"):
            break
    else:
        pytest.fail("Tab never reached the chat launcher")

    page.keyboard.press("Enter")
    expect(message_box(page)).to_be_focused()
    expect(reply_button(page, "Book a free assessment")).to_be_visible()
    page.keyboard.type("does it hurt?")
    page.keyboard.press("Enter")
    expect(conversation(page)).to_contain_text("cramp")
    expect(message_box(page)).to_be_focused()

    page.keyboard.press("Shift+Tab")
    expect(reply_button(page, "Book a free assessment")).to_be_focused()
    page.keyboard.press("Enter")
    expect(conversation(page).locator(".msg-bot").last).to_contain_text("first name")
    expect(message_box(page)).to_be_focused()

    page.keyboard.press("Escape")
    expect(conversation(page)).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    desktop.assert_clean()


def test_fits_a_phone_screen(servers, phone):
    page = phone.page
    open_chat(page, servers.web_url)
    say(page, "what is dry needling?", "needle")
    width, height = 390, 844
    panel = page.get_by_role("dialog").bounding_box()
    assert panel["x"] >= 0 and panel["y"] >= 0
    assert panel["x"] + panel["width"] <= width
    assert panel["y"] + panel["height"] <= height
    for control in (message_box(page), page.get_by_role("button", name="Send")):
        expect(control).to_be_in_viewport()
        box = control.bounding_box()
        assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "widget-phone.png")
    page.get_by_role("button", name="Close chat").click()
    expect(launcher(page)).to_be_in_viewport()
    phone.assert_clean()


def polling_handshake(servers: Servers, origin: str) -> requests.Response:
    return requests.get(
        f"{servers.url}/socket.io/",
        params={"EIO": "4", "transport": "polling"},
        headers={"Origin": origin},
        timeout=10,
    )


def test_foreign_origins_are_refused(servers):
    refused = polling_handshake(servers, FOREIGN)
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers

    allowed = polling_handshake(servers, servers.web_url)
    assert allowed.ok and allowed.text.startswith("0{")
    assert allowed.headers["Access-Control-Allow-Origin"] == servers.web_url

    preflight = requests.options(
        f"{servers.url}/webhooks/rest/webhook",
        headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def socket_io_session(rasa_url: str, origin: str) -> str | None:
    """Engine.IO over WebSocket (where browsers apply no CORS), then a
    socket.io CONNECT; the server's CONNECT answer, or None when refused."""
    url = rasa_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    try:
        async with websockets.connect(url, origin=origin) as ws:
            assert (await ws.recv()).startswith("0{")
            await ws.send("40")
            return await ws.recv()
    except websockets.exceptions.InvalidStatusCode as refused:
        assert refused.status_code == 403
        return None


def test_a_foreign_websocket_gets_no_socket_io_session(servers):
    # Playwright's sync API owns this thread's event loop; use another thread.
    with ThreadPoolExecutor(1) as thread:
        foreign = thread.submit(asyncio.run, socket_io_session(servers.url, FOREIGN))
        assert foreign.result() is None
        own = thread.submit(
            asyncio.run, socket_io_session(servers.url, servers.web_url)
        )
        assert own.result().startswith("40{")
