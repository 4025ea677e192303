"""Privacy requests on the console: find one person by phone or email,
download everything held about them, or delete it (their requests, the
conversations those came from, and those conversations' handoffs and
messages to staff). Both are written to the audit log."""

from __future__ import annotations

import html
import json
from urllib.parse import urlencode

from aiohttp import web

from bot.booking.contact import normalise_email, normalise_phone
from bot.console import Console, download
from bot.console.accounts import Session
from bot.privacy import delete_person, export_person


def _who(query) -> tuple[str | None, str | None, str]:
    """The number and email asked for, normalised; a problem if neither is
    one."""
    phone_text = str(query.get("phone", "")).strip()
    email_text = str(query.get("email", "")).strip()
    phone = normalise_phone(phone_text) if phone_text else None
    email = normalise_email(email_text) if email_text else None
    if phone_text and not phone:
        return None, None, "That is not an Australian phone number."
    if email_text and not email:
        return None, None, "That is not an email address."
    if not (phone or email):
        return None, None, ""
    return phone, email, ""


def _search_form(phone: str, email: str) -> str:
    return (
        '<form method="get" action="/staff/privacy" class="search">'
        "<p>Find a person by their phone number or email.</p>"
        '<p><label for="phone">Phone</label> '
        f'<input id="phone" name="phone" type="tel" value="{html.escape(phone)}" '
        'autocomplete="off"></p>'
        '<p><label for="email">Email</label> '
        f'<input id="email" name="email" type="email" value="{html.escape(email)}" '
        'autocomplete="off"></p>'
        '<p><button type="submit">Find</button></p></form>'
    )


def _results(found, target: str, who: str, phone: str, email: str, session) -> str:
    if not found:
        return "<p>Nothing is held about this person.</p>"
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(b.reference)}</td><td>{e(b.name)}</td><td>{e(b.phone)}</td>"
        f"<td>{e(b.email or '-')}</td><td>{e(b.created_at[:10])}</td></tr>"
        for b in found
    )
    return (
        f"<h2>Held about {e(target)}</h2>"
        "<table><caption>Requests and the conversations they came "
        'from</caption><thead><tr><th scope="col">Reference</th>'
        '<th scope="col">Name</th><th scope="col">Phone</th>'
        '<th scope="col">Email</th><th scope="col">Received</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
        f'<p><a href="/staff/privacy/export?{e(who)}">Download '
        "everything (JSON)</a></p>"
        '<form method="post" action="/staff/privacy/delete">'
        f'<input type="hidden" name="csrf" value="{session.csrf}">'
        f'<input type="hidden" name="phone" value="{e(phone)}">'
        f'<input type="hidden" name="email" value="{e(email)}">'
        '<p><input type="checkbox" id="confirm" name="confirm" value="yes" '
        'required> <label for="confirm">I have checked this is the '
        "person asking, and their data may be deleted</label></p>"
        '<p><button type="submit">Delete everything about this person'
        "</button></p></form>"
    )


def add_routes(app: web.Application, console: Console) -> None:
    logged_in, page, nav = console.logged_in, console.page, console.nav
    accounts, store, queue = console.accounts, console.store, console.queue
    conversations, blocking = console.conversations, console.blocking

    async def search(request: web.Request, session: Session) -> web.Response:
        phone, email, problem = _who(request.query)
        body = nav(session, "privacy") + "<h1>Privacy requests</h1>"
        body += _search_form(
            request.query.get("phone", ""), request.query.get("email", "")
        )
        if problem:
            body += f'<p role="alert">{html.escape(problem)}</p>'
        deleted = [request.query.get(k, "") for k in ("requests", "conversations")]
        if all(n.isdigit() for n in deleted):
            body += (
                f'<p role="status">Deleted {int(deleted[0])} request(s) and '
                f"{int(deleted[1])} conversation(s).</p>"
            )
        if phone or email:
            found = await blocking(store.find, phone, email)
            target = phone or email
            await blocking(
                accounts.audit, session.account.email, "searched a person", target
            )
            who = urlencode({"phone": phone or "", "email": email or ""})
            body += _results(found, target, who, phone or "", email or "", session)
        return page("Privacy requests", body)

    async def export(request: web.Request, session: Session) -> web.Response:
        phone, email, problem = _who(request.query)
        if problem or not (phone or email):
            raise web.HTTPBadRequest(text=problem or "give a phone number or email")
        data = await blocking(export_person, store, conversations, phone, email)
        await blocking(
            accounts.audit, session.account.email, "exported a person", phone or email
        )
        body = json.dumps(data, indent=2, ensure_ascii=False)
        return download(body, "application/json", "personal-data.json")

    async def delete(request: web.Request, session: Session) -> web.Response:
        form = request["form"]
        phone, email, problem = _who(form)
        if problem or not (phone or email) or form.get("confirm") != "yes":
            raise web.HTTPBadRequest(text=problem or "confirm who this is first")
        counts = await blocking(
            delete_person, store, queue, conversations, phone, email
        )
        await blocking(
            accounts.audit, session.account.email, "deleted a person", phone or email
        )
        said = {k: counts[k] for k in ("requests", "conversations")}
        raise web.HTTPSeeOther("/staff/privacy?" + urlencode(said))

    app.router.add_get("/staff/privacy", logged_in(search))
    app.router.add_get("/staff/privacy/export", logged_in(export))
    app.router.add_post("/staff/privacy/delete", logged_in(delete, form=True))
