"""The reception console's pages on the website (``/staff``): login, the
bookings inbox, CSV export, logout.

Every page needs a session; every form carries a CSRF token (the login form
a double-submit cookie, the others the session's own token); the session
cookie is HTTP-only, ``SameSite=Strict``, limited to ``/staff`` and Secure
except on the machine itself (browsers treat ``localhost`` as secure). Over
plain HTTP from another machine the console refuses to log in: it needs
HTTPS there. What staff view and change goes to the audit log.
"""

from __future__ import annotations

import hmac
import html
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.booking.store import (
    NOTE_MAX,
    STATUSES,
    Booking,
    BookingStore,
    Note,
    export_csv,
)
from bot.console import Console, blocking, download, insights, live, people
from bot.console.accounts import AccountError, Accounts, Session
from bot.console.handoffs import HandoffQueue
from bot.privacy import Conversations
from bot.rasa_api import RasaAPI

SESSION_COOKIE = "staff_session"
LOGIN_CSRF_COOKIE = "staff_login_csrf"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
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


def _hostname(request: web.Request) -> str:
    """The Host header without its port ("[::1]:8080" -> "::1")."""
    host = request.host or ""
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _secure(request: web.Request) -> bool:
    """HTTPS (here or at a proxy in front, X-Forwarded-Proto), or this
    machine. A client forging the proxy's header only hardens its own cookie."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    return request.secure or forwarded or _hostname(request) in LOCAL_HOSTS


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
        cells = [b.reference, b.kind, b.name, b.phone, b.email or "-", when,
                 b.concern or "-", _local(b.created_at, zone)]  # fmt: skip
        rows.append(
            "<tr>"
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
) -> None:
    """The console's routes on the website's app; times in ``timezone``, the
    clinic's."""
    zone = ZoneInfo(timezone)

    def logged_in(handler: Handler, form: bool = False):
        async def guarded(request: web.Request) -> web.StreamResponse:
            token = request.cookies.get(SESSION_COOKIE, "")
            session = await blocking(accounts.session, token) if token else None
            if session is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther("/staff/login")
                raise web.HTTPForbidden(text="log in first")
            if form:
                data = await request.post()
                if not hmac.compare_digest(str(data.get("csrf", "")), session.csrf):
                    raise web.HTTPForbidden(text="the form is out of date; reload it")
                request["form"] = data
            return await handler(request, session)

        return guarded

    async def login_form(request: web.Request) -> web.Response:
        csrf = secrets.token_urlsafe(24)
        response = _page("Log in", _login_form(csrf))
        response.set_cookie(
            LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="Strict",
            path="/staff", secure=_secure(request), max_age=3600,
        )  # fmt: skip
        return response

    async def login(request: web.Request) -> web.Response:
        data = await request.post()
        given = str(data.get("csrf", ""))
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(given, expected):
            raise web.HTTPForbidden(text="the login form is out of date; reload it")
        if not _secure(request):
            return _page("Log in", _login_form(
                expected, "The console needs HTTPS when used from another machine."
            ), status=403)  # fmt: skip
        try:
            session = await blocking(
                accounts.login,
                str(data.get("email", "")),
                str(data.get("password", "")),
            )
        except AccountError as error:
            problem = str(error).capitalize() + "."
        else:
            if session is not None:
                response = web.HTTPSeeOther("/staff")
                response.set_cookie(
                    SESSION_COOKIE, session.token, httponly=True,
                    samesite="Strict", path="/staff", secure=_secure(request),
                )  # fmt: skip
                response.del_cookie(LOGIN_CSRF_COOKIE, path="/staff")
                raise response
            problem = "Wrong email or password."
        # The form again with what went wrong: a form shown again, not an HTTP
        # authentication challenge.
        return _page("Log in", _login_form(expected, problem))

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
        body = await blocking(lambda: export_csv(store.list()))
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
