"""The reception console's pages, without a browser: every page needs a
login, every form a CSRF token, cookies are HTTP-only, logins are throttled
without locking staff out, only the connection (or a trusted proxy) says
whether a request is HTTPS, and what staff do is audited."""

from __future__ import annotations

import asyncio
import re
import socket
from http.cookies import SimpleCookie

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.booking.records import BookingRequest
from bot.booking.store import BookingStore
from bot.console.accounts import (
    ACCOUNT_FREE_FAILURES,
    ADDRESS_FREE_FAILURES,
    Accounts,
)
from bot.settings import load_settings
from bot.web.server import create_app
from tests.unit.test_web import clinic

PASSWORD = "correct horse battery"


# argon2 at a low cost: these tests are about accounts, not the hash's
# strength (test_console_accounts checks the real parameters).
pytestmark = pytest.mark.usefixtures("quick_hashes")


@pytest.fixture
def settings(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    return load_settings()


@pytest.fixture
def behind_proxy(monkeypatch, inbox):
    """The website behind a proxy on this machine, as in production, mailing
    unlock links to the test SMTP server."""
    monkeypatch.setenv("WEB_TRUSTED_PROXIES", "127.0.0.1")
    monkeypatch.setenv("WEB_PUBLIC_URL", "https://chat.clinic.example")
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(inbox.port))


@pytest.fixture
async def console(settings, node_modules):
    accounts = Accounts(settings.database_url)
    accounts.add("desk@clinic.example", PASSWORD, "Jo")
    store = BookingStore.from_settings(settings)
    store.submit(
        BookingRequest(
            first_name="<b>Ana</b>",
            phone="+61412345678",
            conversation_id="rest:ana",
            concern="sore neck",
        )
    )
    app = create_app(settings, clinic(), node_modules)
    async with TestClient(TestServer(app)) as client:
        client.accounts, client.store = accounts, store
        yield client
    accounts.engine.dispose()
    store.engine.dispose()


def cookies_of(response) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def hidden_csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def log_in(
    client, password=PASSWORD, email="desk@clinic.example", headers=None, cookie=""
):
    form = await client.get("/staff/login", headers=headers)
    csrf = hidden_csrf(await form.text())
    login_cookie = cookies_of(form)["staff_login_csrf"]
    return await client.post(
        "/staff/login",
        data={"email": email, "password": password, "csrf": csrf},
        headers={
            **(headers or {}),
            "Cookie": f"staff_login_csrf={login_cookie}{cookie}",
        },
        allow_redirects=False,
    )


def from_address(address: str) -> dict[str, str]:
    """What the trusted proxy in front adds for a client at ``address``."""
    return {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}


def without_csrf(page: str) -> str:
    return re.sub(r'name="csrf" value="[^"]+"', "", page)


async def session_of(client) -> tuple[dict, str]:
    response = await log_in(client)
    assert response.status == 303 and response.headers["Location"] == "/staff"
    token = cookies_of(response)["staff_session"]
    headers = {"Cookie": f"staff_session={token}"}
    page = await (await client.get("/staff", headers=headers)).text()
    return headers, hidden_csrf(page)


@pytest.mark.parametrize("path", ["/staff", "/staff/bookings.csv"])
async def test_every_page_needs_a_login(console, path):
    response = await console.get(path, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/staff/login"
    forged = await console.get(
        path, headers={"Cookie": "staff_session=made-up"}, allow_redirects=False
    )
    assert forged.status == 303


async def test_a_login_sets_an_http_only_strict_cookie_and_shows_the_inbox(console):
    response = await log_in(console)
    header = " ".join(response.headers.getall("Set-Cookie"))
    assert "staff_session=" in header and "HttpOnly" in header
    assert "SameSite=Strict" in header and "Path=/staff" in header
    headers, _ = await session_of(console)
    page = await (await console.get("/staff", headers=headers)).text()
    assert "&lt;b&gt;Ana&lt;/b&gt;" in page and "<b>Ana</b>" not in page
    assert "sore neck" in page and "Jo" in page


async def test_a_login_without_its_csrf_token_is_refused(console):
    response = await console.post(
        "/staff/login",
        data={"email": "desk@clinic.example", "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 403
    assert "staff_session" not in cookies_of(response)


@pytest.mark.usefixtures("behind_proxy")
async def test_wrong_passwords_make_an_email_wait_the_same_known_or_not(console):
    """Guesses from many addresses: after a few the email waits (429 with
    Retry-After), and the page, status and wait are the same for a staff
    email and a made-up one."""
    answers = {}
    for n, email in enumerate(("desk@clinic.example", "nobody@clinic.example")):
        for i in range(ACCOUNT_FREE_FAILURES):
            response = await log_in(
                console, "wrong password!", email, from_address(f"10.{n}.0.{i}")
            )
            assert response.status == 200
            assert "Wrong email or password" in await response.text()
            assert "staff_session" not in cookies_of(response)
        waiting = await log_in(console, PASSWORD, email, from_address(f"10.{n}.1.1"))
        assert "staff_session" not in cookies_of(waiting)
        answers[email] = (
            waiting.status,
            waiting.headers.get("Retry-After"),
            without_csrf(await waiting.text()),
        )
    assert answers["desk@clinic.example"] == answers["nobody@clinic.example"]
    status, retry_after, page = answers["desk@clinic.example"]
    assert status == 429 and retry_after == "30"
    assert "Try again in 30 seconds" in page and "locked" not in page


async def test_one_address_waits_after_failures_on_any_emails(console):
    for i in range(ADDRESS_FREE_FAILURES):
        await log_in(console, "wrong password!", f"guess{i}@clinic.example")
    refused = await log_in(console)
    assert refused.status == 429 and "your network" in await refused.text()
    assert "staff_session" not in cookies_of(refused)


@pytest.mark.usefixtures("behind_proxy")
async def test_a_client_cannot_name_its_own_address_behind_the_proxy(console):
    """Whatever a client writes in X-Forwarded-For itself is further left
    than what the trusted proxy appends: each guess gets a new made-up
    address, and the real one waits all the same."""
    for i in range(ADDRESS_FREE_FAILURES):
        await log_in(
            console, "wrong password!", f"guess{i}@clinic.example",
            {"X-Forwarded-For": f"10.9.9.{i}, 198.51.100.7",
             "X-Forwarded-Proto": "https"},
        )  # fmt: skip
    refused = await log_in(
        console, headers={"X-Forwarded-For": "10.9.9.99, 198.51.100.7",
                          "X-Forwarded-Proto": "https"},
    )  # fmt: skip
    assert refused.status == 429 and "your network" in await refused.text()


@pytest.mark.usefixtures("behind_proxy")
async def test_a_stranger_cannot_keep_staff_out_of_a_browser_they_used(console):
    """The lockout attack over HTTP: the staff member's browser keeps a
    trusted cookie from an earlier login and is not slowed."""
    first = await log_in(console, headers=from_address("192.0.2.10"))
    assert first.status == 303
    header = " ".join(
        h for h in first.headers.getall("Set-Cookie") if "staff_device=" in h
    )
    assert "HttpOnly" in header and "SameSite=Strict" in header
    assert "Path=/staff" in header and "Secure" in header
    trusted = cookies_of(first)["staff_device"]
    for i in range(40):
        await log_in(console, "wrong password!", headers=from_address(f"10.0.1.{i}"))
    stranger = await log_in(console, headers=from_address("10.0.2.1"))
    assert stranger.status == 429
    owner = await log_in(
        console, headers=from_address("192.0.2.10"), cookie=f"; staff_device={trusted}"
    )
    assert owner.status == 303 and "staff_session" in cookies_of(owner)


async def wait_for_mail(inbox, to: str, after: int):
    """The first mail to ``to`` among those after the first ``after``."""
    for _ in range(100):
        found = [m for m in inbox.messages[after:] if m["To"] == to]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail to {to}")


@pytest.mark.usefixtures("behind_proxy")
async def test_the_owner_is_mailed_a_link_that_lets_a_new_browser_in_once(
    console, inbox
):
    before = len(inbox.messages)
    for i in range(ACCOUNT_FREE_FAILURES):
        await log_in(console, "wrong password!", headers=from_address(f"10.0.3.{i}"))
    mail = await wait_for_mail(inbox, "desk@clinic.example", before)
    text = mail.get_payload(decode=True).decode()
    path = re.search(r"https://chat\.clinic\.example(/staff/unlock/[\w-]+)", text)[1]
    # Opening the link (or a mail scanner fetching it) changes nothing.
    shown = await console.get(path, headers=from_address("192.0.2.20"))
    assert shown.status == 200 and "Let this browser log in" in await shown.text()
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    let_in = await console.post(
        path, headers=from_address("192.0.2.20"), allow_redirects=False
    )
    assert let_in.status == 303 and let_in.headers["Location"] == "/staff/login"
    trusted = cookies_of(let_in)["staff_device"]
    again = await console.post(
        path, headers=from_address("192.0.2.21"), allow_redirects=False
    )
    assert again.status == 410 and "staff_device" not in cookies_of(again)
    owner = await log_in(
        console, headers=from_address("192.0.2.20"), cookie=f"; staff_device={trusted}"
    )
    assert owner.status == 303
    stranger = await log_in(console, headers=from_address("192.0.2.22"))
    assert stranger.status == 429
    assert not [m for m in inbox.messages if m["To"] == "nobody@clinic.example"]
    assert len([m for m in inbox.messages[before:]]) == 1


async def test_marking_a_booking_needs_the_sessions_csrf_token(console):
    headers, csrf = await session_of(console)
    [booking] = console.store.list()
    url = f"/staff/bookings/{booking.reference}/status"
    refused = await console.post(
        url, data={"status": "contacted"}, headers=headers, allow_redirects=False
    )
    assert refused.status == 403 and console.store.list()[0].status == "new"
    done = await console.post(
        url,
        data={"status": "contacted", "csrf": csrf},
        headers=headers,
        allow_redirects=False,
    )
    assert done.status == 303 and console.store.list()[0].status == "contacted"
    actions = [(e.who, e.action, e.target) for e in console.accounts.audit_log()]
    assert (
        "desk@clinic.example",
        "marked contacted",
        f"booking {booking.reference}",
    ) in actions


async def test_the_csv_export_is_for_staff_and_audited(console):
    headers, _ = await session_of(console)
    response = await console.get("/staff/bookings.csv", headers=headers)
    assert response.status == 200 and response.content_type == "text/csv"
    assert "sore neck" in await response.text()
    assert any(e.action == "exported bookings" for e in console.accounts.audit_log())


async def test_logout_ends_the_session(console):
    headers, csrf = await session_of(console)
    out = await console.post(
        "/staff/logout", data={"csrf": csrf}, headers=headers, allow_redirects=False
    )
    assert out.status == 303
    again = await console.get("/staff", headers=headers, allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == "/staff/login"


async def test_console_pages_may_post_forms_to_themselves_only(console):
    response = await console.get("/staff/login")
    policy = response.headers["Content-Security-Policy"]
    assert "form-action 'self'" in policy and "frame-ancestors 'none'" in policy
    home = await console.get("/")
    assert "form-action 'none'" in home.headers["Content-Security-Policy"]


def this_machines_outside_address() -> str | None:
    """An address of this machine that is not loopback (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_the_host_header_does_not_make_another_machine_local(
    settings, node_modules
):
    """Plain HTTP from another machine saying ``Host: localhost`` (or a
    forged X-Forwarded-Proto, with no proxy trusted) does not log in."""
    outside = this_machines_outside_address()
    if outside is None:
        pytest.skip("this machine has no address but loopback")
    accounts = Accounts(settings.database_url)
    accounts.add("desk@clinic.example", PASSWORD, "Jo")
    app = create_app(settings, clinic(), node_modules)
    async with TestClient(TestServer(app, host=outside)) as client:
        for forged in (
            {"Host": "localhost"},
            {"Host": "127.0.0.1:8080"},
            {"Host": "[::1]"},
            {"Host": "localhost", "X-Forwarded-Proto": "https"},
            {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"},
        ):
            plain = await log_in(client, headers=forged)
            assert plain.status == 403, forged
            assert "needs HTTPS" in await plain.text()
            assert "staff_session" not in cookies_of(plain)
    accounts.engine.dispose()


async def test_on_this_machine_a_forwarded_request_is_not_local(console):
    """A proxy on this machine nobody declared: its requests come from the
    loopback but may be anyone's, so plain HTTP does not log in."""
    for forwarded in ({"X-Forwarded-For": "203.0.113.5"}, {"X-Real-IP": "10.1.1.1"}):
        plain = await log_in(console, headers=forwarded)
        assert plain.status == 403 and "needs HTTPS" in await plain.text()
    local = await log_in(console, headers={"Host": "desk.clinic.example"})
    assert local.status == 303


@pytest.mark.usefixtures("behind_proxy")
async def test_behind_a_trusted_proxy_https_is_what_the_proxy_says(console):
    plain = await log_in(console, headers={"X-Forwarded-For": "203.0.113.5"})
    assert plain.status == 403 and "needs HTTPS" in await plain.text()
    # The client wrote "https"; the proxy appended what it really used.
    appended = await log_in(
        console,
        headers={"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https, http"},
    )
    assert appended.status == 403
    behind_tls = await log_in(console, headers=from_address("203.0.113.5"))
    assert behind_tls.status == 303
    assert "Secure" in " ".join(behind_tls.headers.getall("Set-Cookie"))


FORM = "application/x-www-form-urlencoded"


async def post_login(client, body, content_type=FORM):
    """A login body as an attacker writes it, with a valid CSRF pair."""
    form = await client.get("/staff/login")
    csrf = hidden_csrf(await form.text())
    cookie = cookies_of(form)["staff_login_csrf"]
    if callable(body):
        body = body(csrf)
    headers = {"Cookie": f"staff_login_csrf={cookie}"}
    if content_type:
        headers["Content-Type"] = content_type
    return await client.post(
        "/staff/login", data=body, headers=headers, allow_redirects=False
    )


MALFORMED = {
    "json": (lambda c: b'{"email": "desk@clinic.example"}', "application/json"),
    "no content type": (lambda c: b"email=a&password=b&csrf=" + c.encode(), None),
    "text": (lambda c: b"email=a&password=b&csrf=" + c.encode(), "text/plain"),
    "multipart": (
        lambda c: b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\n'
        b"a\r\n--x--\r\n",
        "multipart/form-data; boundary=x",
    ),
    "latin-1": (
        lambda c: f"email=d\xe9sk&password=b&csrf={c}".encode("latin-1"),
        "application/x-www-form-urlencoded; charset=latin-1",
    ),
    "raw non-UTF-8": (lambda c: b"email=\xff\xfe&password=b&csrf=" + c.encode(), FORM),
    "escaped non-UTF-8": (
        lambda c: b"email=%FF%FE&password=b&csrf=" + c.encode(),
        FORM,
    ),
    "no email": (lambda c: f"password=b&csrf={c}", FORM),
    "no password": (lambda c: f"email=desk@clinic.example&csrf={c}", FORM),
    "two emails": (lambda c: f"email=a@b.c&email=d@e.f&password=b&csrf={c}", FORM),
    "two passwords": (lambda c: f"email=a@b.c&password=b&password=c&csrf={c}", FORM),
    "two csrf": (lambda c: f"email=a@b.c&password=b&csrf={c}&csrf={c}", FORM),
    "huge email": (lambda c: f"email={'a' * 5000}@b.c&password=b&csrf={c}", FORM),
    "huge password": (lambda c: f"email=a@b.c&password={'p' * 5000}&csrf={c}", FORM),
    "huge csrf": (lambda c: f"email=a@b.c&password=b&csrf={'c' * 5000}", FORM),
    "many fields": (
        lambda c: "&".join(f"f{i}=1" for i in range(500)) + f"&csrf={c}",
        FORM,
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_malformed_login_body_gets_400_with_the_reason(console, case):
    body, content_type = MALFORMED[case]
    response = await post_login(console, body, content_type)
    text = await response.text()
    assert response.status == 400, (response.status, text[:300])
    assert 0 < len(text) < 200 and "Traceback" not in text
    assert "staff_session" not in cookies_of(response)


async def test_a_non_ascii_csrf_token_is_refused_not_a_crash(console):
    """compare_digest raises on non-ASCII text: that was a 500."""
    response = await post_login(
        console, lambda c: "email=a@b.c&password=b&csrf=%C3%A9t%C3%A9"
    )
    assert response.status == 403
    headers, _ = await session_of(console)
    [booking] = console.store.list()
    mark = await console.post(
        f"/staff/bookings/{booking.reference}/status",
        data=b"status=contacted&csrf=%C3%A9",
        headers={**headers, "Content-Type": FORM},
        allow_redirects=False,
    )
    assert mark.status == 403


async def test_a_console_form_with_a_broken_body_gets_400(console):
    headers, csrf = await session_of(console)
    [booking] = console.store.list()
    response = await console.post(
        f"/staff/bookings/{booking.reference}/notes",
        data=b"text=\xff\xfe&csrf=" + csrf.encode(),
        headers={**headers, "Content-Type": FORM},
        allow_redirects=False,
    )
    assert response.status == 400 and "UTF-8" in await response.text()
    assert console.store.notes() == {}


async def test_notes_are_kept_with_their_author_escaped_and_audited(console):
    headers, csrf = await session_of(console)
    [booking] = console.store.list()
    url = f"/staff/bookings/{booking.reference}/notes"
    empty = await console.post(
        url, data={"text": "  ", "csrf": csrf}, headers=headers, allow_redirects=False
    )
    assert empty.status == 400
    added = await console.post(
        url,
        data={"text": "Left a voicemail <script>x</script>", "csrf": csrf},
        headers=headers,
        allow_redirects=False,
    )
    assert added.status == 303
    page = await (await console.get("/staff", headers=headers)).text()
    assert "Left a voicemail &lt;script&gt;" in page and "<script>x" not in page
    assert "desk@clinic.example" in page
    assert any(e.action == "added a note" for e in console.accounts.audit_log())


async def test_a_request_can_be_declined(console):
    headers, csrf = await session_of(console)
    [booking] = console.store.list()
    await console.post(
        f"/staff/bookings/{booking.reference}/status",
        data={"status": "declined", "csrf": csrf},
        headers=headers,
        allow_redirects=False,
    )
    assert console.store.list()[0].status == "declined"
