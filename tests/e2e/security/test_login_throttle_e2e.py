"""The reception console's login under attack, against the real website
(``python -m bot.web``) with argon2 at its real cost and a real SMTP server.

The website runs as in production behind a proxy on this machine
(``WEB_TRUSTED_PROXIES=127.0.0.1``): the tests play that proxy, so each
request can come from another client address, as a botnet's would. The
website also listens on this machine's other address, where nobody is a
trusted proxy: there the tests are an attacker on the network.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import time
from itertools import count

import pytest
import requests

from bot import PROJECT_ROOT
from bot.console.accounts import ACCOUNT_FREE_FAILURES, Accounts
from bot.ops.localhost import free_port

PASSWORD = "correct horse battery staple"
STAFF = "jo@clinic.example"
NEWCOMER = "sam@clinic.example"
IN_CHROMIUM = "ana@clinic.example"
NOBODY = "nobody@clinic.example"
addresses = (f"10.{n // 250 % 250}.{n % 250}.1" for n in count(1))


@pytest.fixture(scope="module")
def website(tmp_path_factory, inbox):
    root = tmp_path_factory.mktemp("login_throttle")
    port = free_port()
    database = f"sqlite:///{root / 'clinic.db'}"
    accounts = Accounts(database)
    for email in (STAFF, NEWCOMER, IN_CHROMIUM):
        accounts.add(email, PASSWORD, email.split("@")[0].title())
    accounts.engine.dispose()
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "WEB_PORT": str(port),
        "DATABASE_URL": database,
        "WEB_TRUSTED_PROXIES": "127.0.0.1",
        "WEB_PUBLIC_URL": f"http://localhost:{port}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(inbox.port),
    }
    log = root / "web.log"
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(base, timeout=2).ok
        except requests.RequestException:
            return False

    process = subprocess.Popen(
        [sys.executable, "-m", "bot.web"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)
    yield {"base": base, "port": port, "log": log}
    process.terminate()
    process.wait(timeout=30)


class Browser:
    """One browser at the login form, reaching the website through the
    proxy from ``address``, or with no address straight at ``base``."""

    def __init__(self, base: str, address: str | None = None, trusted: str = ""):
        self.base = base
        self.headers = (
            {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}
            if address
            else {}
        )
        self.trusted = trusted

    def log_in(self, email: str, password: str, **extra) -> requests.Response:
        headers = {**self.headers, **extra.pop("headers", {})}
        form = requests.get(f"{self.base}/staff/login", headers=headers, timeout=10)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)[1]
        # The cookies are Secure (the proxy said HTTPS): requests would not
        # send them over plain HTTP, so they go in the header.
        cookie = f"staff_login_csrf={form.cookies['staff_login_csrf']}"
        if self.trusted:
            cookie += f"; staff_device={self.trusted}"
        response = requests.post(
            f"{self.base}/staff/login",
            data={"email": email, "password": password, "csrf": csrf},
            headers={**headers, "Cookie": cookie},
            allow_redirects=False,
            timeout=30,
        )
        if "staff_device" in response.cookies:
            self.trusted = response.cookies["staff_device"]
        return response


def botnet(base: str, email: str, guesses: int) -> list[int]:
    """Wrong passwords for ``email``, each from another address."""
    return [
        Browser(base, next(addresses)).log_in(email, f"guess {n}").status_code
        for n in range(guesses)
    ]


def test_a_botnet_cannot_lock_a_staff_member_out(website):
    base = website["base"]
    desk = Browser(base, "192.0.2.77")
    assert desk.log_in(STAFF, PASSWORD).status_code == 303 and desk.trusted
    statuses = botnet(base, STAFF, 30)
    assert statuses[:ACCOUNT_FREE_FAILURES] == [200] * ACCOUNT_FREE_FAILURES
    assert statuses.count(429) >= 20
    # Anyone else, even with the right password, waits ...
    thief = Browser(base, next(addresses)).log_in(STAFF, PASSWORD)
    assert thief.status_code == 429 and int(thief.headers["Retry-After"]) > 0
    assert "staff_session" not in thief.cookies
    # ... but Jo at the reception desk's browser logs in at once.
    back = desk.log_in(STAFF, PASSWORD)
    assert back.status_code == 303 and "staff_session" in back.cookies


def mail_to(inbox, to: str, after: int) -> list:
    """Mail to ``to`` among the messages after the first ``after``; the
    website sends it on a thread of its own, so allow a moment."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [m for m in inbox.messages[after:] if m["To"] == to]
        if found:
            return found
        time.sleep(0.1)
    return []


def test_the_emailed_link_lets_a_new_browser_in_while_others_wait(website, inbox):
    base = website["base"]
    before = len(inbox.messages)
    botnet(base, NEWCOMER, ACCOUNT_FREE_FAILURES + 3)
    mail = mail_to(inbox, NEWCOMER, before)
    assert len(mail) == 1, "one email, however many guesses"
    text = mail[0].get_payload(decode=True).decode()
    link = re.search(rf"http://localhost:{website['port']}(/staff/unlock/\S+)", text)
    laptop = Browser(base, "192.0.2.88")
    opened = requests.post(
        base + link[1], headers=laptop.headers, allow_redirects=False, timeout=10
    )
    assert opened.status_code == 303
    laptop.trusted = opened.cookies["staff_device"]
    assert Browser(base, next(addresses)).log_in(NEWCOMER, PASSWORD).status_code == 429
    assert laptop.log_in(NEWCOMER, PASSWORD).status_code == 303
    used = requests.post(base + link[1], headers=laptop.headers, timeout=10)
    assert used.status_code == 410


def page_without_csrf_or_clock(response: requests.Response) -> str:
    """The page, but for its form's token and the seconds left to wait (the
    two emails began waiting a moment apart)."""
    page = re.sub(r'name="csrf" value="[^"]+"', "", response.text)
    return re.sub(r"in \d+ seconds", "in N seconds", page)


def test_a_waiting_staff_email_and_an_unknown_one_look_and_take_the_same(website):
    """Both have had their free failures; then, alternating, each attempt
    from a new address: same status, page and wait, and the same time,
    because argon2 checks the password either way. Skipping the check (the
    old lock) answered in a few milliseconds against a hash's ~50-200."""
    base = website["base"]
    waiting = "waiting-jo@clinic.example"
    accounts = Accounts(f"sqlite:///{website['log'].parent / 'clinic.db'}")
    accounts.add(waiting, PASSWORD, "Jo")
    accounts.engine.dispose()
    for email in (waiting, NOBODY):
        botnet(base, email, ACCOUNT_FREE_FAILURES)
    times = {waiting: [], NOBODY: []}
    answers = {waiting: set(), NOBODY: set()}
    for _ in range(9):
        for email in (waiting, NOBODY):
            response = Browser(base, next(addresses)).log_in(email, "wrong")
            # The POST alone, until its answer's headers.
            times[email].append(response.elapsed.total_seconds())
            answers[email].add(
                (response.status_code, page_without_csrf_or_clock(response))
            )
            assert 0 < int(response.headers["Retry-After"]) <= 30
    assert answers[waiting] == answers[NOBODY]
    assert {status for status, _ in answers[waiting]} == {429}
    ratio = statistics.median(times[waiting]) / statistics.median(times[NOBODY])
    assert 0.5 < ratio < 2, times


def outside_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_plain_http_from_another_machine_is_refused_whatever_its_headers(website):
    """The attacker is not the trusted proxy: Host and forwarded headers are
    its own words, and plain HTTP from it does not log in."""
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    outside = Browser(f"http://{address}:{website['port']}")
    for forged in (
        {"Host": "localhost"},
        {"Host": f"127.0.0.1:{website['port']}"},
        {"Host": "localhost", "X-Forwarded-Proto": "https"},
        {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"},
    ):
        response = outside.log_in(STAFF, PASSWORD, headers=forged)
        assert response.status_code == 403, forged
        assert "needs HTTPS" in response.text
        assert "staff_session" not in response.cookies


def test_bodies_the_form_never_sends_get_400_or_413_never_500(website):
    base = website["base"]
    form = requests.get(f"{base}/staff/login", timeout=10)
    cookie = {"Cookie": f"staff_login_csrf={form.cookies['staff_login_csrf']}"}
    urlencoded = {**cookie, "Content-Type": "application/x-www-form-urlencoded"}
    for body, headers, status in [
        (b"x" * 1024 * 1024, urlencoded, 413),
        (b'{"email": "a", "password": "b"}', {**cookie, "Content-Type":
         "application/json"}, 400),
        (b"email=\xff&password=b&csrf=x", urlencoded, 400),
        (b"email=a&email=b&password=c&csrf=x", urlencoded, 400),
        (b"password=c&csrf=x", urlencoded, 400),
    ]:  # fmt: skip
        response = requests.post(
            f"{base}/staff/login", data=body, headers=headers, timeout=30
        )
        assert response.status_code == status, (body[:40], response.text[:200])
        if status == 413:
            assert response.json() == {"error": "request too large: send at most 64 KB"}
    assert "Traceback" not in website["log"].read_text()


def test_in_chromium_the_desk_gets_back_in_and_the_link_lets_a_laptop_in(
    website, inbox
):
    """The whole story in real browsers: the cookies as Chromium keeps and
    sends them, the forms as it posts them."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    url = f"http://localhost:{website['port']}"

    def log_in(page) -> None:
        page.goto(f"{url}/staff/login")
        page.get_by_label("Email").fill(IN_CHROMIUM)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

    before = len(inbox.messages)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        desk = chromium.new_context().new_page()
        log_in(desk)
        expect(desk.get_by_role("heading", name="Inbox")).to_be_visible()
        botnet(website["base"], IN_CHROMIUM, 12)

        laptop = chromium.new_context().new_page()
        log_in(laptop)
        expect(laptop.get_by_role("alert")).to_contain_text("Try again in")

        desk.get_by_role("button", name="Log out").click()
        log_in(desk)
        expect(desk.get_by_role("heading", name="Inbox")).to_be_visible()

        [mail] = mail_to(inbox, IN_CHROMIUM, before)
        text = mail.get_payload(decode=True).decode()
        laptop.goto(re.search(r"http://localhost:\d+/staff/unlock/\S+", text)[0])
        laptop.get_by_role("button", name="Let this browser log in").click()
        log_in(laptop)
        expect(laptop.get_by_role("heading", name="Inbox")).to_be_visible()
        chromium.close()
