"""WCAG 2.1 A and AA, checked with axe-core (npm, pinned) in Chromium on
every state of the widget and the console, plus what axe cannot see: the
phone-width modal keeps focus inside and the page inert, focus goes back to
what opened the chat, the focus ring and input border contrast, the user's
text size, and forced colours."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from bot import PROJECT_ROOT
from bot.console.accounts import Accounts
from tests.browser.conftest import Watched
from tests.servers import say

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
PASSWORD = "correct horse battery"


def violations(page: Page) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now
    (the widget's open shadow root included)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async (tags) => (await axe.run(document, {
               runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']
           })).violations.map(v => ({id: v.id, impact: v.impact,
               nodes: v.nodes.map(n => JSON.stringify(n.target)).slice(0, 5)}))""",
        WCAG21_AA,
    )


def assert_accessible(page: Page, state: str) -> None:
    found = violations(page)
    assert found == [], f"{state}: {found}"


@pytest.fixture
def audited(browser):
    """Pages that allow axe's script in (the site's CSP would refuse it;
    test_widget_browser checks the CSP)."""
    contexts = []

    def make(**options) -> Page:
        context = browser.new_context(bypass_csp=True, **options)
        contexts.append(context)
        return Watched(context.new_page()).page

    yield make
    for context in contexts:
        context.close()


def launcher(page: Page):
    return page.get_by_role("button", name=re.compile("^(Chat with us|Hide chat)$"))


def conversation(page: Page):
    return page.get_by_role("log", name="Conversation")


def message_box(page: Page):
    return page.get_by_role("textbox", name="Your message")


def ask(page: Page, text: str, expected: str) -> None:
    message_box(page).fill(text)
    message_box(page).press("Enter")
    expect(conversation(page).locator(".msg-bot").last).to_contain_text(expected)


def luminance(rgb: str) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (float(x) for x in re.findall(r"[\d.]+", rgb)[:3])
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_state_of_the_widget_on_a_desktop(servers, audited):
    page = audited(viewport={"width": 1280, "height": 800})
    page.goto(servers.web_url)
    assert_accessible(page, "closed")

    launcher(page).click()
    expect(conversation(page).locator(".msg-bot").first).to_contain_text(
        "I'm the clinic's assistant"
    )
    assert_accessible(page, "open with the greeting")
    # One control is called "Close chat"; the launcher says "Hide chat".
    expect(page.get_by_role("button", name="Close chat")).to_have_count(1)
    # Suggested replies and the typing indicator are inside the log region,
    # so they are announced; the region itself takes focus to scroll.
    assert (
        conversation(page).get_by_role("group", name="Suggested replies").count() == 1
    )
    assert conversation(page).locator(".typing").count() == 1
    expect(conversation(page)).to_have_attribute("tabindex", "0")
    assert conversation(page).get_by_role("list").count() == 1
    status_display = page.evaluate(
        "document.querySelector('#clinic-chat').shadowRoot"
        ".querySelector('[role=status]').computedStyleMap().get('display').value"
    )
    assert status_display != "none"

    ask(page, "does it hurt?", "cramp")
    assert_accessible(page, "after an answer")
    ask(page, "I'd like to book a free assessment", "first name")
    assert_accessible(page, "booking form")

    # The focus ring and the input's border stand out from white (3:1).
    message_box(page).focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    ring = message_box(page).evaluate("e => getComputedStyle(e).outlineColor")
    border = message_box(page).evaluate("e => getComputedStyle(e).borderTopColor")
    assert contrast(ring, "rgb(255, 255, 255)") >= 3, ring
    assert contrast(border, "rgb(255, 255, 255)") >= 3, border

    # Escape from any control closes it, and focus goes back to the opener.
    page.get_by_role("button", name="Send").focus()
    page.keyboard.press("Escape")
    expect(conversation(page)).to_be_hidden()
    expect(launcher(page)).to_be_focused()


def test_focus_goes_back_to_the_link_that_opened_the_chat(servers, audited):
    page = audited(viewport={"width": 1280, "height": 800})
    page.goto(servers.web_url)
    opener = page.get_by_role("button", name="Ask our assistant")
    opener.click()
    expect(message_box(page)).to_be_focused()
    page.get_by_role("button", name="Close chat").click()
    expect(opener).to_be_focused()


def test_on_a_phone_the_open_chat_is_a_modal_dialog(servers, audited):
    page = audited(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page.goto(servers.web_url)
    assert_accessible(page, "phone, closed")
    launcher(page).click()
    expect(conversation(page).locator(".msg-bot").first).to_be_visible()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_have_attribute("aria-modal", "true")
    assert page.evaluate(
        "[...document.body.children].filter(n => n.id !== 'clinic-chat')"
        ".every(n => n.inert)"
    )
    assert_accessible(page, "phone, open")
    inside = "document.activeElement && document.activeElement.id === 'clinic-chat'"
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate(inside), "Tab left the chat for the page under it"
    for _ in range(4):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(inside), "Shift+Tab left the chat"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("[...document.body.children].every(n => !n.inert)")
    expect(launcher(page)).to_be_focused()


def test_the_users_text_size_is_followed(servers, audited):
    page = audited(viewport={"width": 1280, "height": 800})
    page.goto(servers.web_url)
    launcher(page).click()
    size = "e => parseFloat(getComputedStyle(e).fontSize)"
    normal = message_box(page).evaluate(size)
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    assert message_box(page).evaluate(size) == pytest.approx(2 * normal)


def test_forced_colours_keep_the_panel_edge_and_the_typing_dots(servers, audited):
    page = audited(viewport={"width": 1280, "height": 800})
    page.emulate_media(forced_colors="active")
    page.goto(servers.web_url)
    launcher(page).click()
    expect(conversation(page).locator(".msg-bot").first).to_be_visible()
    assert_accessible(page, "forced colours")
    panel = page.get_by_role("dialog")
    assert panel.evaluate("e => parseFloat(getComputedStyle(e).borderTopWidth)") > 0
    dot = page.locator("#clinic-chat .dot").first
    background = dot.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")


def test_every_console_page(servers, audited, database):
    Accounts(database).add("a11y@clinic.example", PASSWORD, "Alex")
    for line in ["I'd like to book a free assessment", "Mei", "0412 345 678", "skip",
                 "tomorrow morning", "tight calves from running", "yes"]:  # fmt: skip
        say(servers.url, "a11y-patient", line)
    say(servers.url, "a11y-waiting", "does it hurt")
    say(servers.url, "a11y-waiting", "can I talk to a real person")

    page = audited(viewport={"width": 1280, "height": 900})
    page.goto(f"{servers.web_url}/staff/login")
    assert_accessible(page, "console login")
    page.get_by_label("Email").fill("a11y@clinic.example")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, "console login with an error")
    page.get_by_label("Email").fill("a11y@clinic.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    ARTIFACTS.mkdir(exist_ok=True)
    pages = [
        ("Inbox", None, "console-inbox"),
        ("Live chats", None, "console-live-chats"),
        ("What patients ask", None, "console-what-patients-ask"),
        ("Privacy requests", "0412 345 678", "console-privacy"),
    ]
    for link, search, shot in pages:
        page.get_by_role("navigation", name="Console").get_by_role(
            "link", name=link
        ).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(link)
        if search:
            page.get_by_label("Phone").fill(search)
            page.get_by_role("button", name="Find").click()
            expect(page.get_by_role("table")).to_contain_text("Mei")
        assert_accessible(page, link)
        page.screenshot(path=ARTIFACTS / f"{shot}.png", full_page=True)
    page.get_by_role("navigation", name="Console").get_by_role(
        "link", name="Live chats"
    ).click()
    page.get_by_role("link", name=re.compile(r"^Chat \d+$")).first.click()
    expect(page.get_by_role("button", name="Take this chat")).to_be_visible()
    assert_accessible(page, "one chat")
    page.screenshot(path=ARTIFACTS / "console-chat.png", full_page=True)


def test_the_checker_finds_what_the_widget_used_to_have(servers, audited):
    """axe is really running: the old log (role="log" on the <ol>) and an
    unnamed button are reported."""
    page = audited(viewport={"width": 1280, "height": 800})
    page.goto(servers.web_url)
    page.evaluate(
        """() => {
            const ol = document.createElement('ol');
            ol.setAttribute('role', 'log');
            ol.innerHTML = '<li>old message</li>';
            document.body.append(ol, document.createElement('button'));
        }"""
    )
    found = {v["id"] for v in violations(page)}
    assert {"listitem", "button-name"} <= found
