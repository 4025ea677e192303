"""The reception console's pages, without a browser: every page needs a
login, every form a CSRF token, cookies are HTTP-only, and what staff do is
audited."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.booking.store import BookingRequest, BookingStore
from bot.console.accounts import LOCK_AFTER_FAILURES, Accounts
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


async def log_in(client, password=PASSWORD, email="desk@clinic.example"):
    form = await client.get("/staff/login")
    csrf = hidden_csrf(await form.text())
    login_cookie = cookies_of(form)["staff_login_csrf"]
    return await client.post(
        "/staff/login",
        data={"email": email, "password": password, "csrf": csrf},
        headers={"Cookie": f"staff_login_csrf={login_cookie}"},
        allow_redirects=False,
    )


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


async def test_wrong_passwords_are_refused_then_lock_the_account(console):
    for _ in range(LOCK_AFTER_FAILURES):
        response = await log_in(console, password="wrong password!")
        assert "Wrong email or password" in await response.text()
        assert "staff_session" not in cookies_of(response)
    locked = await log_in(console)
    assert "locked" in await locked.text()
    assert "staff_session" not in cookies_of(locked)


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


async def test_another_machine_must_use_https(console):
    form = await console.get("/staff/login", headers={"Host": "desk.clinic.example"})
    csrf = hidden_csrf(await form.text())
    cookie = cookies_of(form)["staff_login_csrf"]
    data = {"email": "desk@clinic.example", "password": PASSWORD, "csrf": csrf}
    plain = await console.post(
        "/staff/login",
        data=data,
        headers={"Host": "desk.clinic.example", "Cookie": f"staff_login_csrf={cookie}"},
        allow_redirects=False,
    )
    assert plain.status == 403 and "needs HTTPS" in await plain.text()
    behind_tls = await console.post(
        "/staff/login",
        data=data,
        headers={
            "Host": "desk.clinic.example",
            "X-Forwarded-Proto": "https",
            "Cookie": f"staff_login_csrf={cookie}",
        },
        allow_redirects=False,
    )
    assert behind_tls.status == 303
    assert "Secure" in " ".join(behind_tls.headers.getall("Set-Cookie"))


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
