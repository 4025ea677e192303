"""Privacy requests on the console: find one person by phone or email (either
one finds everything held about them), download it, or delete it after a
confirmation page that lists exactly what goes (their requests, their
conversations, and those conversations' handoffs and messages to staff).

Searches, exports and deletions are written to the audit log with the
number or email masked: the log outlives the deletion. Conversations are
shown by their handles, never their ids (the widget's id is the key to the
patient's chat). The numbers a deletion reports are kept here, for the
staff member who deleted, and shown once: an address cannot make the page
claim a deletion that did not happen.
"""

from __future__ import annotations

import hmac
import html
import json
import re
import secrets
import time
from urllib.parse import urlencode

from aiohttp import web

from bot.booking.contact import normalise_email, normalise_phone
from bot.console import Console, download
from bot.console.accounts import Session
from bot.conversation_ids import handle
from bot.privacy.requests import Person, delete_person, export_person, find_person
from bot.private_logs import mask

RESULT_KEY = re.compile(r"[A-Za-z0-9_-]{20,64}")
FINGERPRINT = re.compile(r"[0-9a-f]{32}")


def only(query, *allowed: str) -> None:
    """Refuse (400) a parameter the page does not take, rather than ignore
    it: a crafted address must not make a page say what did not happen."""
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise web.HTTPBadRequest(
            text=f"This page does not take: {', '.join(unknown)}. "
            f"It takes: {', '.join(allowed) or 'nothing'}."
        )


class Results:
    """What deletions did, each shown once to the staff member who deleted,
    within ten minutes; kept in this process only (the console runs in one
    website process)."""

    def __init__(self, keep_seconds: float = 600, most: int = 100) -> None:
        self.keep_seconds, self.most = keep_seconds, most
        self._kept: dict[str, tuple[str, float, dict[str, int]]] = {}

    def put(self, session: Session, counts: dict[str, int]) -> str:
        now = time.monotonic()
        self._kept = {
            k: v for k, v in self._kept.items() if now - v[1] < self.keep_seconds
        }
        while len(self._kept) >= self.most:
            self._kept.pop(next(iter(self._kept)))
        key = secrets.token_urlsafe(24)
        self._kept[key] = (session.token, now, dict(counts))
        return key

    def take(self, session: Session, key: str) -> dict[str, int] | None:
        kept = self._kept.get(key)
        if kept is None or not hmac.compare_digest(kept[0], session.token):
            return None
        del self._kept[key]
        if time.monotonic() - kept[1] >= self.keep_seconds:
            return None
        return kept[2]


def _who(query) -> tuple[str | None, str | None, str]:
    """The number and email asked for, normalised; a problem if either is
    not one."""
    phone_text = str(query.get("phone", "")).strip()
    email_text = str(query.get("email", "")).strip()
    phone = normalise_phone(phone_text) if phone_text else None
    email = normalise_email(email_text) if email_text else None
    if phone_text and not phone:
        return None, None, "That is not an Australian phone number."
    if email_text and not email:
        return None, None, "That is not an email address."
    return phone, email, ""


def _person_asked(values) -> tuple[str | None, str | None]:
    """The number and email an export or deletion is for: 400 unless at
    least one is given and each given is one."""
    phone, email, problem = _who(values)
    if problem or not (phone or email):
        raise web.HTTPBadRequest(text=problem or "Give a phone number or email.")
    return phone, email


def _target(phone: str | None, email: str | None) -> str:
    return " or ".join(x for x in (phone, email) if x)


def _audited(phone: str | None, email: str | None) -> str:
    """The person as the audit log names them: masked, since the log stays
    after their data has gone."""
    return mask(_target(phone, email))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _search_form(phone: str, email: str) -> str:
    return (
        '<form method="get" action="/staff/privacy" class="search">'
        "<p>Find a person by their phone number or email (either finds "
        "everything held about them).</p>"
        '<p><label for="phone">Phone</label> '
        f'<input id="phone" name="phone" type="tel" value="{html.escape(phone)}" '
        'autocomplete="off"></p>'
        '<p><label for="email">Email</label> '
        f'<input id="email" name="email" type="email" value="{html.escape(email)}" '
        'autocomplete="off"></p>'
        '<p><button type="submit">Find</button></p></form>'
    )


def _forget_note(booking) -> str:
    return "Forget after delivery" if booking.forget else ""


def _conversation_list(person: Person) -> str:
    items = "".join(
        f"<li>{html.escape(handle(c))}: {_plural(n, 'message')}</li>"
        for c, n in person.conversations.items()
    )
    return f"<ul>{items}</ul>" if items else ""


def _results(person: Person, target: str, who: str) -> str:
    if person.empty:
        return "<p>Nothing is held about this person.</p>"
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(b.reference)}</td><td>{e(b.name)}</td><td>{e(b.phone)}</td>"
        f"<td>{e(b.email or '-')}</td><td>{e(b.created_at[:10])}</td>"
        f"<td>{e(b.conversation)}</td><td>{_forget_note(b)}</td></tr>"
        for b in person.requests
    )
    table = (
        "<table><caption>Requests with this number or email, or from the "
        'same conversations</caption><thead><tr><th scope="col">Reference</th>'
        '<th scope="col">Name</th><th scope="col">Phone</th>'
        '<th scope="col">Email</th><th scope="col">Received</th>'
        '<th scope="col">Conversation</th><th scope="col">Note</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
        if rows
        else "<p>No requests.</p>"
    )
    conversations = _conversation_list(person)
    return (
        f"<h2>Held about {e(target)}</h2>{table}"
        + (f"<h3>Conversations</h3>{conversations}" if conversations else "")
        + f'<p><a href="/staff/privacy/export?{e(who)}">Download everything '
        "(JSON)</a></p>"
        f'<p><a href="/staff/privacy/delete?{e(who)}">Delete everything about '
        "this person…</a></p>"
    )


def _confirm(person: Person, target: str, phone: str, email: str, csrf: str) -> str:
    e = html.escape
    if person.empty:
        return (
            f"<h1>Delete everything about {e(target)}</h1>"
            "<p>Nothing is held about this person.</p>"
        )
    requests = "".join(
        f"<li>{e(b.reference)}: {e(b.name)}, received {e(b.created_at[:10])}"
        + (" (forget after delivery)" if b.forget else "")
        + "</li>"
        for b in person.requests
    )
    return (
        f"<h1>Delete everything about {e(target)}</h1>"
        "<p>This deletes, now and for good:</p>"
        f"<h2>{_plural(len(person.requests), 'request')}</h2>"
        + (f"<ul>{requests}</ul>" if requests else "")
        + "<p>With their notes and their notices to the clinic, sent or not.</p>"
        f"<h2>{_plural(len(person.conversations), 'conversation')}</h2>"
        + _conversation_list(person)
        + "<p>With their live chats and messages to staff.</p>"
        '<form method="post" action="/staff/privacy/delete">'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        f'<input type="hidden" name="phone" value="{e(phone)}">'
        f'<input type="hidden" name="email" value="{e(email)}">'
        f'<input type="hidden" name="seen" value="{person.fingerprint()}">'
        '<p><input type="checkbox" id="confirm" name="confirm" value="yes" '
        'required> <label for="confirm">I have checked this is the '
        "person asking, and their data may be deleted</label></p>"
        '<p><button type="submit">Delete all of this</button></p></form>'
    )


def _deleted(counts: dict[str, int]) -> str:
    return (
        f'<p role="status">Deleted {_plural(counts["requests"], "request")} and '
        f'{_plural(counts["conversations"], "conversation")} '
        f'({_plural(counts["events"], "stored event")}), '
        f'{_plural(counts["handoffs"], "live chat")} and '
        f'{_plural(counts["staff_messages"], "message")} to staff.</p>'
    )


def add_routes(app: web.Application, console: Console) -> None:
    logged_in, page, nav = console.logged_in, console.page, console.nav
    accounts, store, queue = console.accounts, console.store, console.queue
    conversations, blocking = console.conversations, console.blocking
    results = Results()

    async def search(request: web.Request, session: Session) -> web.Response:
        only(request.query, "phone", "email", "result")
        phone, email, problem = _who(request.query)
        body = nav(session, "privacy") + "<h1>Privacy requests</h1>"
        body += _search_form(
            request.query.get("phone", ""), request.query.get("email", "")
        )
        if problem:
            body += f'<p role="alert">{html.escape(problem)}</p>'
            return page("Privacy requests", body, status=400)
        if "result" in request.query:
            key = request.query["result"]
            if not RESULT_KEY.fullmatch(key):
                raise web.HTTPBadRequest(text="That is not a deletion's result.")
            counts = results.take(session, key)
            body += (
                _deleted(counts)
                if counts is not None
                else '<p role="status">That deletion\'s result has been shown '
                "already; the audit log records every deletion.</p>"
            )
        if phone or email:
            person = await blocking(find_person, store, conversations, phone, email)
            await blocking(
                accounts.audit,
                session.account.email,
                "searched a person",
                _audited(phone, email),
            )
            who = urlencode({"phone": phone or "", "email": email or ""})
            body += _results(person, _target(phone, email), who)
        return page("Privacy requests", body)

    async def export(request: web.Request, session: Session) -> web.Response:
        only(request.query, "phone", "email")
        phone, email = _person_asked(request.query)
        data = await blocking(export_person, store, conversations, phone, email)
        await blocking(
            accounts.audit,
            session.account.email,
            "exported a person",
            _audited(phone, email),
        )
        body = json.dumps(data, indent=2, ensure_ascii=False)
        return download(body, "application/json", "personal-data.json")

    async def confirm(request: web.Request, session: Session) -> web.Response:
        only(request.query, "phone", "email")
        phone, email = _person_asked(request.query)
        person = await blocking(find_person, store, conversations, phone, email)
        body = nav(session, "privacy") + _confirm(
            person, _target(phone, email), phone or "", email or "", session.csrf
        )
        return page("Delete a person's data", body)

    async def delete(request: web.Request, session: Session) -> web.Response:
        form = request["form"]
        phone, email = _person_asked(form)
        seen = str(form.get("seen", ""))
        if form.get("confirm") != "yes" or not FINGERPRINT.fullmatch(seen):
            raise web.HTTPBadRequest(
                text="Confirm on the page that lists what will be deleted first."
            )
        counts = await blocking(
            delete_person, store, queue, conversations, phone, email, seen
        )
        if counts is None:
            person = await blocking(find_person, store, conversations, phone, email)
            body = (
                nav(session, "privacy")
                + '<p role="alert">What is held about this person changed since '
                "the list was shown (a new request or message?). Nothing was "
                "deleted: check the list again.</p>"
                + _confirm(
                    person,
                    _target(phone, email),
                    phone or "",
                    email or "",
                    session.csrf,
                )
            )
            return page("Delete a person's data", body, status=409)
        await blocking(
            accounts.audit,
            session.account.email,
            "deleted a person",
            f"{_audited(phone, email)}: {_plural(counts['requests'], 'request')}, "
            f"{_plural(counts['conversations'], 'conversation')}",
        )
        key = results.put(session, counts)
        raise web.HTTPSeeOther("/staff/privacy?" + urlencode({"result": key}))

    app.router.add_get("/staff/privacy", logged_in(search))
    app.router.add_get("/staff/privacy/export", logged_in(export))
    app.router.add_get("/staff/privacy/delete", logged_in(confirm))
    app.router.add_post("/staff/privacy/delete", logged_in(delete, form=True))
