"""The demo page server and the socket.io origin check, without a browser."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from unittest.mock import AsyncMock

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sanic import Sanic

from bot.channels.credentials import build_credentials
from bot.channels.socketio import ClinicSocketIOInput
from bot.clinic.facts import Clinic
from bot.settings import load_settings
from bot.web.server import HERE, SOCKET_IO_CLIENT, create_app

RASA = "https://rasa.clinic.example"
OWN = "https://www.clinic.example"
FOREIGN = "http://evil.example"
CHANNEL = "bot.channels.socketio.ClinicSocketIOInput"


def clinic(name: str = "Example Physiotherapy Clinic") -> Clinic:
    return Clinic(
        name=name,
        phone="(02) 5550 1234",
        address="1 Example Street, Bellara QLD 4507",
        booking_link="https://clinic.example/book",
        staff_email="reception@clinic.example",
        timezone="Australia/Brisbane",
        opening_hours={},
    )


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("RASA_PUBLIC_URL", RASA)
    monkeypatch.setenv("ALLOWED_ORIGINS", f"{OWN}, https://clinic.example")
    return load_settings()


@pytest.fixture
def node_modules(tmp_path):
    bundle = tmp_path / SOCKET_IO_CLIENT
    bundle.parent.mkdir(parents=True)
    bundle.write_text("/* socket.io client */")
    return tmp_path


async def get(settings, node_modules, path: str, name: str | None = None):
    app = create_app(settings, clinic(name) if name else clinic(), node_modules)
    async with TestClient(TestServer(app)) as client:
        response = await client.get(path)
        return response, await response.read()


async def test_homepage_shows_the_clinic_and_loads_the_widget(settings, node_modules):
    response, body = await get(settings, node_modules, "/")
    page = body.decode()
    assert response.status == 200 and response.content_type == "text/html"
    assert "Example Physiotherapy Clinic" in page and "(02) 5550 1234" in page
    assert "fictional" in page
    assert (
        '<script src="/widget/clinic-chat.js" '
        f'data-socket-url="{RASA}" data-title="Example Physiotherapy Clinic" defer>'
    ) in page


async def test_clinic_facts_are_html_escaped(settings, node_modules):
    _, body = await get(settings, node_modules, "/", name='Dr <b>"Bad"</b> & Co')
    page = body.decode()
    assert "<b>" not in page
    assert "Dr &lt;b&gt;&quot;Bad&quot;&lt;/b&gt; &amp; Co" in page


async def test_the_page_needs_no_inline_script_or_style(settings, node_modules):
    _, body = await get(settings, node_modules, "/")
    page = body.decode()
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all(" src=" in tag for tag in scripts)
    assert "<style" not in page and " style=" not in page


async def test_security_headers_allow_only_self_and_the_rasa_socket(
    settings, node_modules
):
    for path in ("/", "/nowhere"):
        response, _ = await get(settings, node_modules, path)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert f"connect-src 'self' {RASA} wss://rasa.clinic.example" in policy
        assert "frame-ancestors 'none'" in policy and "unsafe" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_widget_files_are_served_for_other_sites(settings, node_modules):
    response, body = await get(settings, node_modules, "/widget/clinic-chat.js")
    assert response.content_type == "text/javascript"
    assert body == (HERE / "static" / "clinic-chat.js").read_bytes()
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    response, body = await get(settings, node_modules, "/widget/socket.io.min.js")
    assert body == b"/* socket.io client */"
    response, _ = await get(settings, node_modules, "/widget/clinic-chat.css")
    assert response.content_type == "text/css"


def test_a_missing_npm_install_fails_at_start(settings, tmp_path):
    with pytest.raises(SystemExit, match="npm ci"):
        create_app(settings, clinic(), tmp_path)


def test_the_rasa_url_must_be_http(monkeypatch, node_modules):
    monkeypatch.setenv("RASA_PUBLIC_URL", "localhost:5005")
    with pytest.raises(SystemExit, match="RASA_PUBLIC_URL"):
        create_app(load_settings(), clinic(), node_modules)


def test_the_widget_channel_gets_the_allowed_origins(settings):
    credentials = build_credentials(settings)
    assert "socketio" not in credentials
    socket = credentials[CHANNEL]
    assert socket["cors_allowed_origins"] == [OWN, "https://clinic.example"]
    assert socket["session_persistence"] is True
    channel = ClinicSocketIOInput.from_credentials(socket)
    assert channel.name() == "socketio"
    assert channel.allowed_origins == (OWN, "https://clinic.example")
    assert channel.session_persistence is True


def request(path: str, origin: str | None) -> SimpleNamespace:
    return SimpleNamespace(path=path, headers={"origin": origin} if origin else {})


async def test_socket_io_refuses_foreign_origins_app_wide():
    channel = ClinicSocketIOInput(session_persistence=True, allowed_origins=[OWN])
    blueprint = channel.blueprint(AsyncMock())
    app = Sanic("origin_check_test")
    app.blueprint(blueprint, url_prefix="/webhooks/socketio")
    assert blueprint.refuse_foreign_origin in app.request_middleware
    # engine.io's own check stays off: Sanic-CORS alone writes the headers.
    assert channel.sio.eio.cors_allowed_origins == []

    check = blueprint.refuse_foreign_origin
    for path in ("/socket.io", "/socket.io/"):
        refused = await check(request(path, FOREIGN))
        assert refused.status == 403
        assert await check(request(path, OWN)) is None
    assert await check(request("/socket.io/", None)) is None
    assert await check(request("/webhooks/rest/webhook", FOREIGN)) is None
    assert await check(request("/socket.iox", FOREIGN)) is None


async def test_a_session_request_joins_the_room_the_bot_replies_to():
    channel = ClinicSocketIOInput(session_persistence=True)
    channel.blueprint(AsyncMock())
    assert channel.sio.handlers["/"]["session_request"] == channel.session_request
    channel.sio = AsyncMock()
    issued = channel.widget_ids.issue()

    await channel.session_request("sid-1", {"session_id": issued})
    channel.sio.save_session.assert_awaited_once_with(
        "sid-1", {"conversation": issued}, namespace=None
    )
    channel.sio.enter_room.assert_awaited_once_with("sid-1", issued, namespace=None)
    channel.sio.emit.assert_awaited_once_with(
        "session_confirm", issued, room="sid-1", namespace=None
    )


@pytest.mark.parametrize(
    "data",
    [None, {}, {"session_id": None}, {"session_id": 7}, {"session_id": "a1b2c3d4e5f6"}],
)
async def test_a_missing_odd_or_made_up_session_id_gets_a_new_one(data):
    channel = ClinicSocketIOInput(session_persistence=True)
    channel.sio = AsyncMock()
    await channel.session_request("sid-1", data)
    await channel.session_request("sid-2", {"session_id": "../../" + "x" * 80})
    ids = [call.args[1] for call in channel.sio.enter_room.await_args_list]
    assert len(set(ids)) == 2
    for given in ids:
        assert channel.widget_ids.issued(given)
        assert given != (data or {}).get("session_id")


LIMIT = 64 * 1024


async def post(settings, node_modules, path: str, **request):
    app = create_app(settings, clinic(), node_modules)
    async with TestClient(TestServer(app)) as client:
        response = await client.post(path, **request)
        return response, await response.read()


@pytest.mark.parametrize("path", ["/", "/staff/login", "/staff/logout", "/nowhere"])
async def test_a_body_over_64_kb_gets_413_with_a_json_error(
    settings, node_modules, path
):
    """docs/security.md's limit, not aiohttp's 1 MiB: refused before any
    route reads it, on every path."""
    response, body = await post(
        settings, node_modules, path, data=b"x" * (LIMIT + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert response.status == 413 and response.content_type == "application/json"
    assert json.loads(body) == {"error": "request too large: send at most 64 KB"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_chunked_body_is_stopped_at_64_kb(settings, node_modules):
    """No Content-Length to go by: the form reader stops where it passes."""

    async def megabyte():
        for _ in range(16):
            yield b"email=" + b"a" * (LIMIT // 4)

    response, body = await post(
        settings, node_modules, "/staff/login", data=megabyte(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert response.status == 413
    assert "64 KB" in json.loads(body)["error"]


async def test_a_body_of_64_kb_is_read(settings, node_modules):
    """The limit is 64 KB, not less: a login body that size is read (and
    refused for what it holds)."""
    padding = LIMIT - len("email=&password=x&csrf=x")
    response, body = await post(
        settings, node_modules, "/staff/login",
        data=f"email={'a' * padding}&password=x&csrf=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert response.status == 400 and b"email is too long" in body


@pytest.mark.parametrize(
    "name, value",
    [("WEB_TRUSTED_PROXIES", "10.0.0.0/8, nginx"), ("WEB_PUBLIC_URL", "chat.example")],
)
def test_proxies_and_the_public_url_are_checked_at_start(monkeypatch, name, value):
    """A proxy list with a name in it would trust nobody (or, misread,
    anybody); a link without a scheme would not open from an email."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=name):
        load_settings()


def test_proxies_are_read_as_networks(monkeypatch):
    monkeypatch.setenv("WEB_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")
    monkeypatch.delenv("WEB_PUBLIC_URL", raising=False)
    monkeypatch.setenv("WEB_PORT", "8099")
    web = load_settings().web
    assert web.trusted_proxies == ("10.0.0.0/8", "127.0.0.1", "::1")
    assert web.public_url == "http://localhost:8099"
