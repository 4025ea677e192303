"""Live chats on the console: the queue of patients waiting for a person,
one conversation's transcript with the reply box, taking it and handing it
back (the timer that offers a callback to whoever waited too long is
bot/handoff/timer.py).

The pages work without JavaScript (forms post, then
redirect back); ``/console.js`` refreshes the queue and the transcript
every few seconds from the JSON twins of the pages.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.console import Console
from bot.console.accounts import Session
from bot.conversation_ids import channel_of, handle
from bot.db import utcnow
from bot.handoff.queue import ACTIVE, WAITING, Handoff, HandoffError
from bot.handoff.rasa_api import RasaAPIError

logger = logging.getLogger(__name__)
REPLY_MAX = 1000
# The largest id either database's integer key holds; a longer number in a
# URL is no chat, not a database error.
MAX_ID = 2**63 - 1
CHANNEL_NAMES = {
    "socketio": "website chat",
    "whatsapp": "WhatsApp",
    "facebook": "Messenger",
    "telegram": "Telegram",
    "rest": "REST API (cannot receive live replies)",
}


PROBLEMS = {
    "taken": "Someone else has taken this chat, or it has ended.",
    "untold": "You have the chat, but the patient could not be told yet "
    "(Rasa did not answer). Your replies will tell them.",
    "not_yours": "Take the chat before replying.",
    "empty": "Type a reply first.",
    "unsent": "Your reply was not sent: Rasa did not answer. Try again.",
    "ended": "This chat has already ended.",
    "not_yours_to_return": "A colleague has this chat; only they can hand it " "back.",
    "unreturned": "The assistant could not take over (Rasa did not answer). "
    "Try handing it back again.",
}


def channel_name(h: Handoff) -> str:
    """The channel the conversation was opened on, from its id (the stored
    column of an older row may hold what a client claimed)."""
    channel = channel_of(h.conversation_id)
    return CHANNEL_NAMES[channel] if channel else "unknown (no live replies)"


def chat_target(h: Handoff) -> str:
    """What the audit log names: the chat and, should its row be deleted,
    the conversation it was about (by its printable handle)."""
    return f"chat {h.id} ({handle(h.conversation_id)})"


def waited_text(delta: timedelta) -> str:
    minutes, seconds = divmod(int(delta.total_seconds()), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def messages(events: list[dict], zone: ZoneInfo) -> list[dict]:
    """The transcript as staff read it: who, what, when (clinic time)."""
    out = []
    for event in events:
        kind, text = event.get("event"), event.get("text")
        if kind not in ("user", "bot") or not text:
            continue
        staff = (event.get("metadata") or {}).get("staff")
        who = "Patient" if kind == "user" else (staff or "Assistant")
        if kind == "user" and text.startswith("/"):
            # A button's payload, not typed words.
            intent = text[1:].split("{")[0]
            text = "(opened the chat)" if intent == "greet" else f"(chose {intent})"
        when = datetime.fromtimestamp(event.get("timestamp") or 0, zone)
        out.append({"who": who, "text": text, "at": when.strftime("%H:%M")})
    return out


def _transcript_html(items: list[dict]) -> str:
    if not items:
        return "<p>No messages yet.</p>"
    return "".join(
        f'<li><span class="who">{html.escape(m["who"])}</span> '
        f'<time>{m["at"]}</time><p>{html.escape(m["text"])}</p></li>'
        for m in items
    )


def handoff_json(h: Handoff, now: datetime) -> dict:
    return {
        "id": h.id,
        "conversation": h.conversation_id,
        "channel": channel_name(h),
        "status": h.status,
        "staff": h.staff_name,
        "waited": waited_text(h.waited(now)),
    }


def _queue_rows(open_: list[Handoff], now: datetime) -> str:
    if not open_:
        return '<p id="queue-empty">Nobody is waiting for a person.</p>'
    rows = "".join(
        "<tr>"
        f'<td><a href="/staff/handoffs/{h.id}">Chat {h.id}</a></td>'
        f"<td>{html.escape(channel_name(h))}</td>"
        f"<td>{'waiting' if h.status == WAITING else 'with ' + html.escape(h.staff_name or '')}</td>"  # noqa: E501
        f"<td>{waited_text(h.waited(now))}</td>"
        "</tr>"
        for h in open_
    )
    return (
        "<table><caption>Patients who asked for a person, longest waiting "
        'first</caption><thead><tr><th scope="col">Chat</th>'
        '<th scope="col">Channel</th><th scope="col">Status</th>'
        f'<th scope="col">Waited</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def add_routes(app: web.Application, console: Console) -> None:
    logged_in, page, nav = console.logged_in, console.page, console.nav
    accounts, queue, rasa = console.accounts, console.queue, console.rasa
    zone, blocking = console.zone, console.blocking

    async def find(request: web.Request) -> Handoff:
        handoff_id = int(request.match_info["id"])
        if not 0 < handoff_id <= MAX_ID:
            raise web.HTTPNotFound(text="no such chat")
        try:
            return await blocking(queue.get, handoff_id)
        except KeyError:
            raise web.HTTPNotFound(text="no such chat") from None

    async def queue_page(request: web.Request, session: Session) -> web.Response:
        open_ = await blocking(queue.open)
        await blocking(accounts.audit, session.account.email, "viewed live chats", "")
        body = (
            nav(session, "handoffs") + "<h1>Live chats</h1>"
            '<p id="live-status" role="status" aria-live="polite"></p>'
            f'<div id="queue" data-live="/staff/handoffs.json">'
            f"{_queue_rows(open_, utcnow())}</div>"
        )
        return page("Live chats", body)

    async def queue_json(request: web.Request, session: Session) -> web.Response:
        now = utcnow()
        open_ = await blocking(queue.open)
        return web.json_response(
            {
                "open": [handoff_json(h, now) for h in open_],
                "html": _queue_rows(open_, now),
            },  # fmt: skip
            headers={"Cache-Control": "no-store"},
        )

    async def transcript(h: Handoff) -> tuple[list[dict], str]:
        try:
            return messages(await rasa.events(h.conversation_id), zone), ""
        except RasaAPIError as error:
            return [], f"The conversation could not be loaded: {error}"

    async def chat_page(request: web.Request, session: Session) -> web.Response:
        h = await find(request)
        items, problem = await transcript(h)
        await blocking(
            accounts.audit, session.account.email, "viewed a chat", chat_target(h)
        )
        csrf = session.csrf
        note = PROBLEMS.get(request.query.get("problem", ""), "")
        alert = f'<p role="alert">{html.escape(note)}</p>' if note else ""
        alert += f'<p role="alert">{html.escape(problem)}</p>' if problem else ""
        mine = h.status == ACTIVE and h.staff_email == session.account.email
        controls = ""
        if h.status == WAITING:
            controls = (
                f'<form method="post" action="/staff/handoffs/{h.id}/take">'
                f'<input type="hidden" name="csrf" value="{csrf}">'
                '<button type="submit">Take this chat</button></form>'
            )
        if mine:
            controls = (
                f'<form method="post" action="/staff/handoffs/{h.id}/reply" '
                'id="reply-form">'
                f'<input type="hidden" name="csrf" value="{csrf}">'
                '<p><label for="reply">Your reply</label><br>'
                f'<textarea id="reply" name="text" rows="3" cols="60" '
                f'maxlength="{REPLY_MAX}" required autofocus></textarea></p>'
                '<p><button type="submit">Send</button></p></form>'
            )
        if h.status == WAITING or mine:
            controls += (
                f'<form method="post" action="/staff/handoffs/{h.id}/return">'
                f'<input type="hidden" name="csrf" value="{csrf}">'
                '<button type="submit">Hand back to the assistant</button></form>'
            )
        who = f" with {html.escape(h.staff_name)}" if h.staff_name else ""
        body = (
            nav(session, "handoffs") + f"<h1>Chat {h.id}</h1>{alert}"
            f"<p>{html.escape(channel_name(h))}, "
            f'<span id="chat-status">{html.escape(h.status)}{who}</span>, '
            f"waited {waited_text(h.waited())}.</p>"
            '<h2 id="transcript-title">Conversation</h2>'
            f'<ol id="transcript" class="transcript" aria-labelledby='
            f'"transcript-title" data-live="/staff/handoffs/{h.id}.json">'
            f"{_transcript_html(items)}</ol>{controls}"
        )
        return page(f"Chat {h.id}", body)

    async def chat_json(request: web.Request, session: Session) -> web.Response:
        h = await find(request)
        items, problem = await transcript(h)
        return web.json_response(
            {
                **handoff_json(h, utcnow()),
                "messages": items,
                "problem": problem,
                "html": _transcript_html(items),
            },  # fmt: skip
            headers={"Cache-Control": "no-store"},
        )

    def back(h: Handoff, problem: str = "") -> web.HTTPSeeOther:
        """To the chat's page; a problem by its code (PROBLEMS), so no link
        can put words of its own on the console."""
        query = f"?problem={problem}" if problem else ""
        return web.HTTPSeeOther(f"/staff/handoffs/{h.id}{query}")

    async def take(request: web.Request, session: Session) -> web.Response:
        h = await find(request)
        account = session.account
        try:
            h = await blocking(queue.take, h.id, account.email, account.first_name)
        except HandoffError:
            raise back(h, "taken") from None
        await blocking(accounts.audit, account.email, "took a chat", chat_target(h))
        try:
            # Listening after it, so a message the patient sends meanwhile
            # (an emergency is still answered) is a fresh turn.
            await rasa.utter(
                h.conversation_id,
                "utter_handoff_taken",
                {"handoff_staff": account.first_name},
                listen=True,
            )
        except RasaAPIError:
            logger.exception("chat %s taken, the patient not told", h.id)
            raise back(h, "untold") from None
        raise back(h)

    async def reply(request: web.Request, session: Session) -> web.Response:
        h = await find(request)
        text = " ".join(str(request["form"].get("text", "")).split())[:REPLY_MAX]
        if h.status != ACTIVE or h.staff_email != session.account.email:
            raise back(h, "not_yours")
        if not text:
            raise back(h, "empty")
        try:
            await rasa.say(h.conversation_id, text, session.account.first_name)
        except RasaAPIError:
            logger.exception("reply in chat %s not sent", h.id)
            raise back(h, "unsent") from None
        await blocking(
            accounts.audit, session.account.email, "replied in a chat", chat_target(h)
        )
        raise back(h)

    async def hand_back(request: web.Request, session: Session) -> web.Response:
        """The patient is told and the assistant resumed first, the queue
        closed after: a failure leaves the chat open to try again."""
        h = await find(request)
        if h.status not in (WAITING, ACTIVE):
            raise back(h, "ended")
        if h.status == ACTIVE and h.staff_email != session.account.email:
            raise back(h, "not_yours_to_return")
        try:
            await rasa.utter(h.conversation_id, "utter_handoff_returned")
            await rasa.resume(h.conversation_id)
        except RasaAPIError:
            logger.exception("chat %s: the assistant could not take over", h.id)
            raise back(h, "unreturned") from None
        try:
            await blocking(queue.hand_back, h.id)
        except HandoffError:
            pass  # closed meanwhile by someone else: the same outcome
        await blocking(
            accounts.audit, session.account.email, "handed a chat back", chat_target(h)
        )
        raise web.HTTPSeeOther("/staff/handoffs")

    app.router.add_get("/staff/handoffs", logged_in(queue_page))
    app.router.add_get("/staff/handoffs.json", logged_in(queue_json))
    app.router.add_get("/staff/handoffs/{id:\\d+}", logged_in(chat_page))
    app.router.add_get("/staff/handoffs/{id:\\d+}.json", logged_in(chat_json))
    app.router.add_post("/staff/handoffs/{id:\\d+}/take", logged_in(take, form=True))
    app.router.add_post("/staff/handoffs/{id:\\d+}/reply", logged_in(reply, form=True))
    app.router.add_post(
        "/staff/handoffs/{id:\\d+}/return", logged_in(hand_back, form=True)
    )
