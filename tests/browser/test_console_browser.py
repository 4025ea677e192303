"""Reception's console in Chromium against the real servers: a patient books
over the website's chat server, reception logs in, finds the request, marks
it booked, and logs out."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from bot import PROJECT_ROOT
from bot.booking.store import BookingStore
from bot.console.accounts import Accounts
from tests.servers import say

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
PASSWORD = "correct horse battery"
BOOKING = ["I'd like to book a free assessment", "Mei", "0412 345 678", "skip",
           "tomorrow morning", "tight calves from running", "yes"]  # fmt: skip


def test_reception_logs_in_finds_a_booking_and_marks_it(servers, desktop, database):
    Accounts(database).add("desk@clinic.example", PASSWORD, "Jo")
    for line in BOOKING:
        replies = say(servers.url, "console-patient", line)
    reference = re.search(r"DN-[A-Z0-9]{4}", replies[-1]["text"]).group(0)

    page = desktop.page
    page.goto(f"{servers.web_url}/staff")
    expect(page).to_have_url(re.compile(r"/staff/login$"))
    page.get_by_label("Email").fill("desk@clinic.example")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    page.get_by_label("Email").fill("desk@clinic.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=reference)
    expect(row).to_contain_text("Mei")
    expect(row).to_contain_text("tight calves from running")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "console-inbox.png", full_page=True)
    row.get_by_label(f"Status of {reference}").select_option("booked")
    row.get_by_role("button", name="Save").click()
    expect(
        page.get_by_role("row")
        .filter(has_text=reference)
        .get_by_label(f"Status of {reference}")
    ).to_have_value("booked")
    [booking] = [b for b in BookingStore(database).list() if b.reference == reference]
    assert booking.status == "booked"

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/staff/login$"))
    page.goto(f"{servers.web_url}/staff")
    expect(page).to_have_url(re.compile(r"/staff/login$"))
    desktop.assert_clean()


def test_a_new_request_appears_in_the_open_inbox(servers, desktop, database):
    Accounts(database).add("live@clinic.example", PASSWORD, "Lee")
    page = desktop.page
    page.goto(f"{servers.web_url}/staff/login")
    page.get_by_label("Email").fill("live@clinic.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()

    booking = ["can I book in please", "Rosa", "0413 222 111", "skip",
               "friday afternoon", "stiff neck from my desk job", "yes"]  # fmt: skip
    for line in booking:
        replies = say(servers.url, "console-live-patient", line)
    reference = re.search(r"DN-[A-Z0-9]{4}", replies[-1]["text"]).group(0)

    # Without a reload: the page polls and announces it.
    expect(page.get_by_role("row").filter(has_text=reference)).to_contain_text(
        "Rosa", timeout=15_000
    )
    expect(page.get_by_role("status")).to_contain_text(f"New request {reference}")
    desktop.assert_clean()
