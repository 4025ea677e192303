"""The demo website: a fictional clinic homepage with the chat widget, and
reception's console under ``/staff`` (bot/console/web.py).

It also serves the widget's own files under ``/widget/``, which is what a
clinic's real website loads with the one-line snippet of docs/widget.md,
"Adding it to a site".

Like Rasa's server it refuses a body over 64 KB with 413 and a JSON
``error``: no form of the console needs more.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from aiohttp import web

from bot import PROJECT_ROOT
from bot.booking.store import BookingStore
from bot.clinic.facts import Clinic, load_clinic
from bot.console import web as console
from bot.console.accounts import Accounts
from bot.conversations import Conversations
from bot.handoff.queue import HandoffQueue
from bot.handoff.rasa_api import RasaAPI
from bot.handoff.timer import start_timer
from bot.settings import PUBLIC_REQUEST_MAX_SIZE, Settings, load_settings

HERE = Path(__file__).resolve().parent
NODE_MODULES = PROJECT_ROOT / "node_modules"
SOCKET_IO_CLIENT = Path("socket.io-client", "dist", "socket.io.min.js")
JS = "text/javascript"
CSS = "text/css"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
TOO_LARGE = "request too large: send at most {limit} KB"


def too_large() -> web.Response:
    return web.json_response(
        {"error": TOO_LARGE.format(limit=PUBLIC_REQUEST_MAX_SIZE // 1024)},
        status=413,
    )


@web.middleware
async def limit_bodies(request: web.Request, handler) -> web.StreamResponse:
    """413 before the route runs when Content-Length says too much; a chunked
    body is stopped where it passes the limit (the app's client_max_size)."""
    if (request.content_length or 0) > PUBLIC_REQUEST_MAX_SIZE:
        return too_large()
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return too_large()


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


def load_assets(node_modules: Path = NODE_MODULES) -> dict[str, Asset]:
    """Read every file once at start-up, so a missing ``npm ci`` fails early."""
    client = node_modules / SOCKET_IO_CLIENT
    if not client.exists():
        raise SystemExit(f"{client} is missing; run `make setup` (npm ci) first.")
    files = {
        "/widget/clinic-chat.js": (HERE / "static" / "clinic-chat.js", JS),
        "/widget/clinic-chat.css": (HERE / "static" / "clinic-chat.css", CSS),
        "/widget/socket.io.min.js": (client, JS),
        "/site.css": (HERE / "static" / "site.css", CSS),
        "/console.js": (HERE / "static" / "console.js", JS),
        "/favicon.svg": (HERE / "static" / "favicon.svg", "image/svg+xml"),
    }
    return {
        url: Asset(path.read_bytes(), content_type)
        for url, (path, content_type) in files.items()
    }


def socket_sources(rasa_public_url: str) -> str:
    """The Rasa origin for socket.io's polling and its WebSocket upgrade."""
    parts = urlsplit(rasa_public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SystemExit(f"RASA_PUBLIC_URL must be an http(s) URL: {rasa_public_url}")
    ws = "wss" if parts.scheme == "https" else "ws"
    return f"{parts.scheme}://{parts.netloc} {ws}://{parts.netloc}"


def content_security_policy(rasa_public_url: str, forms: str = "'none'") -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src 'self' {socket_sources(rasa_public_url)}",
            "base-uri 'none'",
            f"form-action {forms}",
            "frame-ancestors 'none'",
        ]
    )


def render_page(settings: Settings, clinic: Clinic) -> str:
    """The homepage, every clinic fact HTML-escaped."""
    template = Template((HERE / "templates" / "index.html").read_text("utf8"))
    values = {
        "name": clinic.name,
        "phone": clinic.phone,
        "phone_link": "tel:" + "".join(c for c in clinic.phone if c.isdigit()),
        "address": clinic.address,
        "hours": clinic.hours_text(),
        "booking_link": clinic.booking_link,
        "socket_url": settings.web.rasa_public_url,
    }
    return template.substitute({k: html.escape(v) for k, v in values.items()})


def create_app(
    settings: Settings, clinic: Clinic, node_modules: Path = NODE_MODULES
) -> web.Application:
    assets = load_assets(node_modules)
    page = render_page(settings, clinic).encode("utf8")
    policy = content_security_policy(settings.web.rasa_public_url)
    # The console's forms post to the console.
    console_policy = content_security_policy(settings.web.rasa_public_url, "'self'")

    async def index(_: web.Request) -> web.Response:
        return web.Response(
            body=page,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def asset(request: web.Request) -> web.Response:
        found = assets[request.path]
        return web.Response(
            body=found.body,
            content_type=found.content_type,
            charset="utf-8" if found.content_type in (JS, CSS) else None,
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def security_headers(request: web.Request, response: web.StreamResponse):
        # A page may make them stricter (the unlock link's sends no referrer).
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        console = request.path.startswith("/staff")
        response.headers["Content-Security-Policy"] = (
            console_policy if console else policy
        )
        # Clinics' own sites load the widget's files from this server.
        widget = request.path.startswith("/widget/")
        response.headers["Cross-Origin-Resource-Policy"] = (
            "cross-origin" if widget else "same-origin"
        )

    # aiohttp refuses a body of client_max_size itself; Sanic, only above.
    app = web.Application(
        client_max_size=PUBLIC_REQUEST_MAX_SIZE + 1, middlewares=[limit_bodies]
    )
    app.router.add_get("/", index)
    for url in assets:
        app.router.add_get(url, asset)
    app.on_response_prepare.append(security_headers)
    queue = HandoffQueue(settings.database_url)
    rasa = RasaAPI(settings.rasa_api_url, settings.api_token)
    console.add_routes(
        app,
        Accounts(
            settings.database_url,
            console.email_unlock_links(settings.smtp, settings.web.public_url),
        ),
        BookingStore.from_settings(settings),
        clinic.timezone,
        queue,
        rasa,
        Conversations.from_settings(settings),
        settings.web.trusted_proxies,
    )
    start_timer(app, queue, rasa, timedelta(seconds=settings.handoff_wait_seconds))
    return app


def main() -> int:
    from bot import private_logs

    private_logs.install()
    settings = load_settings()
    app = create_app(settings, load_clinic(settings.clinic_settings))
    web.run_app(app, host="0.0.0.0", port=settings.web.port, print=None)
    return 0
