"""The reception console's pages on the website (``/staff``): login, the
bookings inbox, CSV export, logout.

Every page needs a session; every form carries a CSRF token (the login form
a double-submit cookie, the others the session's own token); the session
cookie is HTTP-only, ``SameSite=Strict``, limited to ``/staff`` and Secure
except on the machine itself (browsers treat ``localhost`` as secure). Over
plain HTTP from another machine the console refuses to log in: it needs
HTTPS there. Whether a request is HTTPS and where it comes from is the
connection's own, or a trusted proxy's (``WEB_TRUSTED_PROXIES``) forwarded
headers; never the Host header. Logins are throttled (accounts.py). What
staff view and change goes to the audit log.
"""

from __future__ import annotations

import hmac
import html
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDict

from bot.booking.export import export_csv
from bot.booking.records import NOTE_MAX, STATUSES, Booking, Note
from bot.booking.store import BookingStore
from bot.console import Console, blocking, download, insights, live, people
from bot.console.accounts import (
    MAX_EMAIL,
    MAX_PASSWORD,
    TOKENS_PER_BROWSER,
    TRUSTED_BROWSER_DAYS,
    Account,
    Accounts,
    OnThrottled,
    Session,
    Throttled,
    unlock_url,
)
from bot.console.people import only
from bot.conversations import Conversations
from bot.handoff.queue import HandoffQueue
from bot.handoff.rasa_api import RasaAPI
from bot.notify.mail import send_mail
from bot.settings import SmtpSettings

SESSION_COOKIE = "staff_session"
LOGIN_CSRF_COOKIE = "staff_login_csrf"
# The tokens of the accounts this browser is trusted for, joined by dots.
TRUSTED_COOKIE = "staff_device"
FORM = "application/x-www-form-urlencoded"
# Fields in one console form: none has more than a handful.
MAX_FIELDS = 20
FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP")
Networks = tuple[IPv4Network | IPv6Network, ...]
logger = logging.getLogger(__name__)
Handler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


NAV = (
    ("inbox", "/staff", "Inbox"),
    ("handoffs", "/staff/handoffs", "Live chats"),
    ("questions", "/staff/questions", "What patients ask"),
    ("privacy", "/staff/privacy", "Privacy requests"),
)


def _nav(session: Session, current: str) -> str:
    """The console's menu and the logout button, on every page."""
    here = ' aria-current="page"'
    links = "".join(
        f'<li><a href="{url}"{here if key == current else ""}>{label}</a></li>'
        for key, url, label in NAV
    )
    return (
        f'<header class="console-header"><nav aria-label="Console"><ul>{links}'
        f"</ul></nav><p>Logged in as {html.escape(session.account.first_name)} "
        f"({html.escape(session.account.email)}).</p>"
        '<form method="post" action="/staff/logout">'
        f'<input type="hidden" name="csrf" value="{session.csrf}">'
        '<button type="submit">Log out</button></form></header>'
    )


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)} · Reception</title>"
            '<link rel="icon" href="/favicon.svg" type="image/svg+xml">'
            '<link rel="stylesheet" href="/site.css">'
            '<script src="/console.js" defer></script></head>'
            f'<body class="console"><main id="main">{body}</main></body></html>'
        ),
        content_type="text/html",
        charset="utf-8",
        status=status,
        headers={"Cache-Control": "no-store"},
    )


def networks(proxies: Iterable[str]) -> Networks:
    """``WEB_TRUSTED_PROXIES`` (checked by bot.settings) as networks."""
    return tuple(ip_network(p, strict=False) for p in proxies)


def _within(address: str, trusted: Networks) -> bool:
    try:
        found = ip_address(address)
    except ValueError:
        return False
    return any(found in network for network in trusted)


def _forwarded(request: web.Request, name: str) -> list[str]:
    return [
        part.strip()
        for value in request.headers.getall(name, [])
        for part in value.split(",")
        if part.strip()
    ]


def client_address(request: web.Request, trusted: Networks) -> str:
    """Who sent the request: the connection's peer, or, when the peer is a
    trusted proxy, the nearest address in X-Forwarded-For that is not one
    (what the client wrote there itself is further left, never reached)."""
    address = request.remote or ""
    if not _within(address, trusted):
        return address
    for hop in reversed(_forwarded(request, "X-Forwarded-For")):
        address = hop
        if not _within(hop, trusted):
            break
    return address


def _https(request: web.Request, trusted: Networks) -> bool:
    """TLS on this connection, or X-Forwarded-Proto as a trusted proxy set it."""
    if request.secure:
        return True
    proto = [p.lower() for p in _forwarded(request, "X-Forwarded-Proto")]
    return _within(request.remote or "", trusted) and proto[-1:] == ["https"]


def _this_machine(request: web.Request, trusted: Networks) -> bool:
    """A client on this machine, connected to it directly: a loopback peer
    whose request carries forwarded headers came through a proxy nobody
    declared, and may be anyone."""
    try:
        loopback = ip_address(client_address(request, trusted)).is_loopback
    except ValueError:
        return False
    untrusted_proxy = not _within(request.remote or "", trusted) and any(
        name in request.headers for name in FORWARDED
    )
    return loopback and not untrusted_proxy


def _secure(request: web.Request, trusted: Networks) -> bool:
    """HTTPS, or this machine (browsers treat ``localhost`` as secure)."""
    return _https(request, trusted) or _this_machine(request, trusted)


async def read_form(request: web.Request) -> MultiDict[str]:
    """A console form's fields: an urlencoded UTF-8 body, as browsers send
    it; 400 with the reason for anything else (413 above the body limit)."""
    if request.content_type != FORM or (request.charset or "utf-8").lower() not in (
        "utf-8",
        "utf8",
    ):
        raise web.HTTPBadRequest(text=f"send the form as {FORM} in UTF-8")
    body = await request.read()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError as error:
        raise web.HTTPBadRequest(text="the form is not UTF-8 text") from error
    except ValueError as error:
        raise web.HTTPBadRequest(
            text=f"a form has at most {MAX_FIELDS} fields"
        ) from error
    return MultiDict(pairs)


def _login_field(
    form: MultiDict[str], name: str, longest: int, needed: bool = True
) -> str:
    """The field sent once, at most ``longest`` characters; 400 otherwise."""
    values = form.getall(name, [])
    if len(values) > 1:
        raise web.HTTPBadRequest(text=f"send {name} once")
    if not values and needed:
        raise web.HTTPBadRequest(text=f"the login form needs the {name}")
    value = values[0] if values else ""
    if len(value) > longest:
        raise web.HTTPBadRequest(text=f"the {name} is too long")
    return value


def email_unlock_links(smtp: SmtpSettings, public_url: str) -> OnThrottled:
    """Send the owner of an account that starts to wait the unlock link, on
    a thread of its own: the login's answer does not wait for the mail
    server, so its time does not tell a known email from an unknown one."""

    def send(account: Account, token: str) -> None:
        body = (
            f"Someone typed a wrong password for {account.email} at the clinic's "
            "reception console several times, so logins to it from browsers "
            "it has not been used on now wait between tries. Browsers you "
            "have logged in with before are not affected.\n\n"
            "If you need to log in from another browser now, open this link "
            "in it (it works once, within a day):\n\n"
            f"{unlock_url(public_url, token)}\n\n"
            "If it was not you, tell the clinic's administrator. Your password "
            "has not been changed.\n"
        )
        try:
            send_mail(smtp, account.email, "Reception console: failed logins", body)
        except Exception as error:  # noqa: BLE001 - the login is not its concern
            logger.warning("unlock email not sent: %s", type(error).__name__)

    def start(account: Account, token: str) -> None:
        threading.Thread(target=send, args=(account, token), daemon=True).start()

    return start


def _login_form(csrf: str, problem: str = "") -> str:
    alert = f'<p role="alert">{html.escape(problem)}</p>' if problem else ""
    return (
        "<h1>Reception console</h1>"
        f"{alert}"
        '<form method="post" action="/staff/login">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        '<p><label for="email">Email</label> '
        '<input id="email" name="email" type="email" autocomplete="username" '
        "required></p>"
        '<p><label for="password">Password</label> '
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required></p>'
        '<p><button type="submit">Log in</button></p></form>'
    )


def _local(iso: str, zone: ZoneInfo) -> str:
    """A stored UTC time as the clinic's clock shows it."""
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%a %d %b %H:%M")


def _notes(reference: str, notes: list[Note], csrf: str, zone: ZoneInfo) -> str:
    items = "".join(
        f"<li>{html.escape(n.text)} <small>({html.escape(n.who)}, "
        f"{_local(n.at, zone)})</small></li>"
        for n in notes
    )
    ref = html.escape(reference)
    return (
        (f"<ul>{items}</ul>" if items else "")
        + f'<form method="post" action="/staff/bookings/{ref}/notes">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        f'<label for="n-{ref}">Note on {ref}</label> '
        f'<input id="n-{ref}" name="text" maxlength="{NOTE_MAX}" required> '
        '<button type="submit">Add note</button></form>'
    )


def _inbox(session: Session, store: BookingStore, zone: ZoneInfo) -> str:
    bookings = store.list()
    # The newest request the page shows: console.js compares against it.
    newest = bookings[-1].reference if bookings else ""
    return (
        _nav(session, "inbox") + "<h1>Inbox</h1>"
        '<p id="live-status" role="status" aria-live="polite"></p>'
        '<p><a href="/staff/bookings.csv">Export CSV</a></p>'
        f'<div id="inbox" data-live="/staff/inbox.json" '
        f'data-latest="{html.escape(newest)}">'
        f"{_inbox_table(session, bookings, store.notes(), zone)}</div>"
    )


def _inbox_table(
    session: Session,
    bookings: list[Booking],
    notes: dict[str, list[Note]],
    zone: ZoneInfo,
) -> str:
    rows = []
    for b in reversed(bookings):
        options = "".join(
            f'<option value="{s}"{" selected" if s == b.status else ""}>{s}</option>'
            for s in STATUSES
        )
        when = b.preferred_time.get("label") or b.preferred_time.get("text") or "-"
        cells = [b.name, b.phone, b.email or "-", when,
                 b.concern or "-", _local(b.created_at, zone)]  # fmt: skip
        # The patient asked to be forgotten: it goes once the clinic has it.
        forget = (
            '<br><strong class="forget">Forget after delivery</strong>'
            if b.forget
            else ""
        )
        rows.append(
            f"<tr><td>{html.escape(b.reference)}{forget}</td>"
            f"<td>{html.escape(b.kind)}</td>"
            + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
            + f'<td><form method="post" action="/staff/bookings/'
            f'{html.escape(b.reference)}/status">'
            f'<input type="hidden" name="csrf" value="{session.csrf}">'
            f'<label class="visually-hidden" for="s-{b.reference}">Status of '
            f"{html.escape(b.reference)}</label>"
            f'<select id="s-{b.reference}" name="status">{options}</select> '
            '<button type="submit">Save</button></form></td>'
            f"<td>{_notes(b.reference, notes.get(b.reference, []), session.csrf, zone)}"
            "</td></tr>"
        )
    table = (
        "<table><caption>Booking and callback requests, newest first</caption>"
        "<thead><tr>"
        + "".join(
            f'<th scope="col">{h}</th>'
            for h in ("Reference", "Kind", "Name", "Phone", "Email", "Preferred",
                      "Concern", "Received", "Status", "Notes")  # fmt: skip
        )
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else "<p>No requests yet.</p>"
    )
    return table


def add_routes(
    app: web.Application,
    accounts: Accounts,
    store: BookingStore,
    timezone: str,
    queue: HandoffQueue,
    rasa: RasaAPI,
    conversations: Conversations,
    trusted_proxies: Iterable[str] = (),
) -> None:
    """The console's routes on the website's app; times in ``timezone``, the
    clinic's; forwarded headers believed from ``trusted_proxies`` only."""
    zone = ZoneInfo(timezone)
    proxies = networks(trusted_proxies)

    def set_trusted(response: web.StreamResponse, request, tokens) -> None:
        response.set_cookie(
            TRUSTED_COOKIE, ".".join(tokens[-TOKENS_PER_BROWSER:]), httponly=True,
            samesite="Strict", path="/staff", secure=_secure(request, proxies),
            max_age=TRUSTED_BROWSER_DAYS * 24 * 3600,
        )  # fmt: skip

    def logged_in(handler: Handler, form: bool = False):
        async def guarded(request: web.Request) -> web.StreamResponse:
            token = request.cookies.get(SESSION_COOKIE, "")
            session = await blocking(accounts.session, token) if token else None
            if session is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther("/staff/login")
                raise web.HTTPForbidden(text="log in first")
            if form:
                data = await read_form(request)
                given = data.get("csrf", "").encode()
                if not hmac.compare_digest(given, session.csrf.encode()):
                    raise web.HTTPForbidden(text="the form is out of date; reload it")
                request["form"] = data
            return await handler(request, session)

        return guarded

    async def login_form(request: web.Request) -> web.Response:
        csrf = secrets.token_urlsafe(24)
        response = _page("Log in", _login_form(csrf))
        response.set_cookie(
            LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict",
            path="/staff", secure=_secure(request, proxies), max_age=3600,
        )  # fmt: skip
        return response

    async def login(request: web.Request) -> web.Response:
        form = await read_form(request)
        email = _login_field(form, "email", MAX_EMAIL)
        password = _login_field(form, "password", MAX_PASSWORD)
        given = _login_field(form, "csrf", 64, needed=False)
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise web.HTTPForbidden(text="the login form is out of date; reload it")
        if not _secure(request, proxies):
            return _page("Log in", _login_form(
                expected, "The console needs HTTPS when used from another machine."
            ), status=403)  # fmt: skip
        held = request.cookies.get(TRUSTED_COOKIE, "").split(".")
        try:
            session = await blocking(
                accounts.login, email, password, client_address(request, proxies),
                held,
            )  # fmt: skip
        except Throttled as error:
            # The same page and wait whether or not the email is an account.
            waiting = _page("Log in", _login_form(expected, str(error)), status=429)
            waiting.headers["Retry-After"] = str(error.retry_after)
            return waiting
        if session is None:
            # The form again with what went wrong: a form shown again, not an
            # HTTP authentication challenge.
            return _page("Log in", _login_form(expected, "Wrong email or password."))
        response = web.HTTPSeeOther("/staff")
        response.set_cookie(
            SESSION_COOKIE, session.token, httponly=True,
            samesite="Strict", path="/staff", secure=_secure(request, proxies),
        )  # fmt: skip
        set_trusted(response, request, session.trusted)
        response.del_cookie(LOGIN_CSRF_COOKIE, path="/staff")
        raise response

    async def unlock_form(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        page = _page("Unlock", (
            "<h1>Let this browser log in</h1>"
            "<p>This link lets the browser it is opened in log in to your "
            "console account while logins from other browsers wait. It works "
            "once; you still need your password.</p>"
            f'<form method="post" action="/staff/unlock/{html.escape(token)}">'
            '<button type="submit">Let this browser log in</button></form>'
        ))  # fmt: skip
        page.headers["Referrer-Policy"] = "no-referrer"
        return page

    async def unlock(request: web.Request) -> web.Response:
        if not _secure(request, proxies):
            return _page("Unlock", (
                "<h1>Let this browser log in</h1><p role=\"alert\">The console "
                "needs HTTPS when used from another machine.</p>"
            ), status=403)  # fmt: skip
        found = await blocking(accounts.use_unlock_link, request.match_info["token"])
        if found is None:
            return _page("Unlock", (
                "<h1>Let this browser log in</h1><p role=\"alert\">This link "
                "has been used or is more than a day old. Ask the clinic's "
                "administrator for a new one.</p>"
            ), status=410)  # fmt: skip
        _, fresh = found
        response = web.HTTPSeeOther("/staff/login")
        held = [t for t in request.cookies.get(TRUSTED_COOKIE, "").split(".") if t]
        set_trusted(response, request, [*held, fresh])
        raise response

    async def inbox(request: web.Request, session: Session) -> web.Response:
        body = await blocking(_inbox, session, store, zone)
        await blocking(accounts.audit, session.account.email, "viewed inbox", "")
        return _page("Inbox", body)

    async def inbox_json(request: web.Request, session: Session) -> web.Response:
        def latest() -> tuple[str | None, int, str]:
            bookings = store.list()
            newest = bookings[-1].reference if bookings else None
            table = _inbox_table(session, bookings, store.notes(), zone)
            return newest, len(bookings), table

        newest, count, table = await blocking(latest)
        return web.json_response(
            {"latest": newest, "count": count, "html": table},
            headers={"Cache-Control": "no-store"},
        )

    async def mark(request: web.Request, session: Session) -> web.Response:
        reference = request.match_info["reference"]
        status = str(request["form"].get("status", ""))
        try:
            await blocking(store.mark, reference, status)
        except (KeyError, ValueError) as error:
            raise web.HTTPBadRequest(text=f"not changed: {error}") from error
        await blocking(
            accounts.audit, session.account.email, f"marked {status}",
            f"booking {reference}",
        )  # fmt: skip
        raise web.HTTPSeeOther("/staff")

    async def note(request: web.Request, session: Session) -> web.Response:
        reference = request.match_info["reference"]
        text = str(request["form"].get("text", ""))
        who = session.account.email
        try:
            await blocking(store.add_note, reference, who, text)
        except (KeyError, ValueError) as error:
            raise web.HTTPBadRequest(text=f"no note added: {error}") from error
        await blocking(accounts.audit, who, "added a note", f"booking {reference}")
        raise web.HTTPSeeOther("/staff")

    async def export(request: web.Request, session: Session) -> web.Response:
        only(request.query, "status")
        status = request.query.get("status") or None
        if status is not None and status not in STATUSES:
            raise web.HTTPBadRequest(
                text=f"status must be one of {', '.join(STATUSES)}, "
                f"not {status[:20]!r}."
            )
        body = await blocking(lambda: export_csv(store.list(status)))
        await blocking(accounts.audit, session.account.email, "exported bookings", "")
        return download(body, "text/csv", "bookings.csv")

    async def logout(request: web.Request, session: Session) -> web.Response:
        await blocking(accounts.logout, session.token)
        await blocking(accounts.audit, session.account.email, "logged out", "")
        response = web.HTTPSeeOther("/staff/login")
        response.del_cookie(SESSION_COOKIE, path="/staff")
        raise response

    app.router.add_get("/staff/login", login_form)
    app.router.add_post("/staff/login", login)
    app.router.add_get(r"/staff/unlock/{token:[A-Za-z0-9_-]{20,64}}", unlock_form)
    app.router.add_post(r"/staff/unlock/{token:[A-Za-z0-9_-]{20,64}}", unlock)
    app.router.add_get("/staff", logged_in(inbox))
    app.router.add_get("/staff/inbox.json", logged_in(inbox_json))
    app.router.add_get("/staff/bookings.csv", logged_in(export))
    app.router.add_post(
        "/staff/bookings/{reference}/status", logged_in(mark, form=True)
    )
    app.router.add_post("/staff/bookings/{reference}/notes", logged_in(note, form=True))
    app.router.add_post("/staff/logout", logged_in(logout, form=True))
    console = Console(
        accounts, store, queue, rasa, conversations, zone, logged_in, _page, _nav
    )
    for pages in (live, people, insights):
        pages.add_routes(app, console)
