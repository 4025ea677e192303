"""What patients ask: the numbers the clinic uses to decide which answers to
add or improve, from the conversations Rasa stored and the bookings
database.

- user messages per topic (intent, in plain words: bot/console/topics.py)
  per week, in the clinic's time;
- the messages the assistant could not answer (fell back), that were out of
  scope, that it referred to a physiotherapist, or that held no words at all
  (only markup, whatever the classifier made of them), with names, phone
  numbers and emails masked;
- how many conversations that asked a question went on to a booking or
  callback request;
- live handoffs answered and missed.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.booking.store import BookingStore
from bot.console import Console, download
from bot.console.people import only
from bot.console.topics import title
from bot.conversations import Conversations
from bot.handoff.queue import ACTIVE, MISSED, RETURNED, HandoffQueue
from bot.private_logs import mask

# A name given after a cue ("my name is Priya Sharma", "call me Jess"):
# up to three capitalised words; after "my name is", the next word however
# it is written ("my name is zara").
CAPITALISED = r"[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2}"
NAME = re.compile(
    rf"\b((?i:my name is|my name's|i am|i'm|im|call me|this is))\s+{CAPITALISED}"
)
GIVEN_NAME = re.compile(r"\b((?i:my name is|my name's))\s+(?!\[name\])[\w'-]+")
# "Zara Quinn here", "hi, Zara here": a name introducing the message.
NAME_HERE = re.compile(
    rf"(^|[.!?,;:]\s*|\b(?i:hi|hello|hey|g'day)\s+)({CAPITALISED})(?=\s+here\b)"
)
# Capitalised words before "here" that are not a name ("Anyone here?").
NOT_NAMES = {
    "anyone", "anybody", "someone", "somebody", "everyone", "everybody",
    "nobody", "no", "yes", "ok", "okay", "hi", "hello", "hey", "sorry",
    "thanks", "is", "are", "am", "was", "i", "i'm", "im", "we", "we're", "you",
    "you're", "they", "they're", "it", "it's", "who", "who's", "what", "where",
    "not", "still", "just", "right", "over", "out", "in", "me", "parking",
}  # fmt: skip
DIGITS = re.compile(r"\d[\d ]{6,}\d")
# Markup, with what script and style elements hold, and HTML entities.
SCRIPTS = re.compile(r"(?is)<(script|style)\b.*?(?:</\1\s*>|$)")
TAGS = re.compile(r"<[A-Za-z/!?][^<>]*(?:>|$)")
ENTITIES = re.compile(r"&#?\w+;")
WORD = re.compile(r"[^\W_]")


def _name_here(match: re.Match) -> str:
    """The words before "here" masked, after any that are not a name
    ("Hello Zara here" keeps "Hello")."""
    words, kept = match.group(2).split(), []
    while words and words[0].lower() in NOT_NAMES:
        kept.append(words.pop(0))
    if not words:
        return match.group(0)
    return match.group(1) + " ".join([*kept, "[name]"])


def masked(message: str) -> str:
    """A patient's message with contact details (spelled-out emails too),
    names after a cue or before "here" and long numbers (Medicare, health
    fund) masked."""
    message = mask(message)
    message = NAME.sub(lambda m: f"{m.group(1)} [name]", message)
    message = GIVEN_NAME.sub(lambda m: f"{m.group(1)} [name]", message)
    message = NAME_HERE.sub(_name_here, message)
    return DIGITS.sub("[number]", message)


def only_markup(message: str) -> bool:
    """Markup and no words once it is taken out ("<b></b>", "<img src=x>",
    "<script>...</script>"): nothing the assistant could have answered."""
    rest = ENTITIES.sub("", TAGS.sub("", SCRIPTS.sub("", message)))
    return rest != message and not WORD.search(rest)


FELL_BACK_INTENTS = {"nlu_fallback"}
FELL_BACK_ACTIONS = {"action_handle_fallback", "action_default_fallback"}
OUT_OF_SCOPE_INTENTS = {"out_of_scope", "non_english"}
REFERRED_ACTIONS = {"utter_personal_advice"}
REFERRED_INTENTS = {"personal_advice"}
QUESTION_PREFIXES = ("faq_", "clinic_", "personal_advice", "session_plan")
DEFAULT_WEEKS, MOST_WEEKS = 8, 52


def weeks_asked(query) -> int:
    """``?weeks=`` (1 to 52, 8 when not given); anything else is the
    caller's mistake (400), said plainly."""
    only(query, "weeks")
    raw = query.get("weeks", str(DEFAULT_WEEKS)).strip()
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MOST_WEEKS:
        raise web.HTTPBadRequest(
            text=f"weeks must be a whole number from 1 to {MOST_WEEKS}, "
            f"not {raw[:20]!r}."
        )
    return int(raw)


@dataclass
class Insights:
    weeks: list[str]
    topics: dict[str, dict[str, int]]
    # (week, kind, masked text): kind is "fell back", "out of scope",
    # "referred to a physio" or "no words (only markup)"
    unanswered: list[tuple[str, str, str]]
    asked: int
    booked: int
    handoffs: dict[str, int] = field(default_factory=dict)


def _week(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone).date()
    return (local - timedelta(days=local.weekday())).isoformat()


def summarise(
    conversations: Conversations,
    store: BookingStore,
    queue: HandoffQueue,
    zone: ZoneInfo,
    weeks: int = 8,
    now: datetime | None = None,
) -> Insights:
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(weeks=weeks)
    topics: dict[str, dict[str, int]] = {}
    unanswered = []
    week_set: set[str] = set()
    asking: set[str] = set()
    for sender, event, actions in conversations.turns_since(since):
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        said = event.get("text")
        if not said or not isinstance(said, str):
            continue
        markup = only_markup(said)
        if not intent and not markup:
            continue
        at = datetime.fromtimestamp(event.get("timestamp") or 0, timezone.utc)
        week = _week(at, zone)
        week_set.add(week)
        if intent:
            topics.setdefault(intent, {}).setdefault(week, 0)
            topics[intent][week] += 1
        if intent and intent.startswith(QUESTION_PREFIXES) and not markup:
            asking.add(sender)
        kind = None
        if markup:
            kind = "no words (only markup)"
        elif intent in FELL_BACK_INTENTS or actions & FELL_BACK_ACTIONS:
            kind = "fell back"
        elif intent in OUT_OF_SCOPE_INTENTS:
            kind = "out of scope"
        elif intent in REFERRED_INTENTS or actions & REFERRED_ACTIONS:
            kind = "referred to a physio"
        if kind:
            unanswered.append((week, kind, masked(said)))
    requested = {
        b.conversation_id
        for b in store.list()
        if datetime.fromisoformat(b.created_at) >= since
    }
    handoffs = {"answered": 0, "missed": 0, "waiting": 0}
    for h in queue.since(since):
        if h.status == MISSED:
            handoffs["missed"] += 1
        elif h.status == ACTIVE or (h.status == RETURNED and h.taken_at):
            handoffs["answered"] += 1
        elif h.status != RETURNED:
            handoffs["waiting"] += 1
    return Insights(
        weeks=sorted(week_set),
        topics=dict(sorted(topics.items(), key=lambda kv: -sum(kv[1].values()))),
        unanswered=sorted(unanswered, reverse=True),
        asked=len(asking),
        booked=len(asking & requested),
        handoffs=handoffs,
    )


def as_csv(insights: Insights) -> str:
    """One section after another: topics per week, the unanswered messages,
    the totals. Cells that a spreadsheet would run as formulas are quoted."""
    from bot.booking.export import csv_safe

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["topic", "intent", *insights.weeks, "total"])
    for intent, counts in insights.topics.items():
        cells = [counts.get(w, 0) for w in insights.weeks]
        writer.writerow([title(intent), intent, *cells, sum(cells)])
    writer.writerow([])
    writer.writerow(["week", "what happened", "message (masked)"])
    for week, kind, message in insights.unanswered:
        writer.writerow([week, kind, csv_safe(message)])
    writer.writerow([])
    writer.writerow(["measure", "count"])
    writer.writerow(["conversations that asked a question", insights.asked])
    writer.writerow(["... of which requested a booking or callback", insights.booked])
    for name, count in insights.handoffs.items():
        writer.writerow([f"handoffs {name}", count])
    return out.getvalue()


def add_routes(app: web.Application, console: Console) -> None:
    logged_in, page, nav = console.logged_in, console.page, console.nav
    accounts, store, queue = console.accounts, console.store, console.queue
    conversations, zone = console.conversations, console.zone

    async def compute(weeks: int) -> Insights:
        return await asyncio.to_thread(
            summarise, conversations, store, queue, zone, weeks
        )

    async def overview(request, session) -> web.Response:
        weeks = weeks_asked(request.query)
        insights = await compute(weeks)
        period = "week" if weeks == 1 else f"{weeks} weeks"
        await asyncio.to_thread(
            accounts.audit, session.account.email, "viewed what patients ask", ""
        )
        e = html.escape
        head = "".join(f'<th scope="col">{e(w)}</th>' for w in insights.weeks)
        rows = "".join(
            f'<tr><th scope="row">{e(title(intent))}</th>'
            + "".join(f"<td>{counts.get(w, 0)}</td>" for w in insights.weeks)
            + f"<td>{sum(counts.values())}</td></tr>"
            for intent, counts in insights.topics.items()
        )
        topics = (
            "<table><caption>Messages per topic, per week (starting Monday)"
            f'</caption><thead><tr><th scope="col">Topic</th>{head}'
            f'<th scope="col">Total</th></tr></thead><tbody>{rows}</tbody></table>'
            if rows
            else f"<p>No messages in the last {period}.</p>"
        )
        items = "".join(
            f"<tr><td>{e(week)}</td><td>{e(kind)}</td><td>{e(text)}</td></tr>"
            for week, kind, text in insights.unanswered
        )
        unanswered = (
            "<table><caption>Messages the assistant could not answer itself, "
            "newest week first (contact details masked)</caption><thead><tr>"
            '<th scope="col">Week</th><th scope="col">What happened</th>'
            f'<th scope="col">Message</th></tr></thead><tbody>{items}</tbody></table>'
            if items
            else "<p>None.</p>"
        )
        h = insights.handoffs
        body = (
            nav(session, "questions") + "<h1>What patients ask</h1>"
            f'<p><a href="/staff/questions.csv?weeks={weeks}">Export CSV</a></p>'
            f"<h2>Totals, last {period}</h2><ul>"
            f"<li>{insights.asked} conversation{'' if insights.asked == 1 else 's'} "
            "asked a question; "
            f"{insights.booked} of them went on to request a booking or callback.</li>"
            f"<li>Live chats: {h['answered']} answered, {h['missed']} missed "
            f"(offered a callback), {h['waiting']} waiting.</li></ul>"
            f"<h2>Topics</h2>{topics}<h2>Not answered by the assistant</h2>"
            f"{unanswered}"
        )
        return page("What patients ask", body)

    async def export(request, session) -> web.Response:
        body = as_csv(await compute(weeks_asked(request.query)))
        await asyncio.to_thread(
            accounts.audit, session.account.email, "exported what patients ask", ""
        )
        return download(body, "text/csv", "what-patients-ask.csv")

    app.router.add_get("/staff/questions", logged_in(overview))
    app.router.add_get("/staff/questions.csv", logged_in(export))
