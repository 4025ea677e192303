"""What patients ask, from stored conversations: topics per week, what the
assistant could not answer (masked), questions that became bookings, and
live chats answered and missed; and the console's privacy page."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import PROJECT_ROOT
from bot.booking.records import BookingRequest
from bot.booking.store import BookingStore
from bot.console.accounts import Accounts
from bot.console.insights import as_csv, masked, summarise
from bot.console.topics import TITLES
from bot.conversation_ids import handle
from bot.conversations import Conversations
from bot.handoff.queue import HandoffQueue
from bot.rasa.tracker_store import SQLTrackerStore
from bot.web.server import create_app
from tests.unit.test_console_web import PASSWORD, hidden_csrf, log_in
from tests.unit.test_web import clinic

pytestmark = pytest.mark.usefixtures("quick_hashes")
ZONE = ZoneInfo("Australia/Brisbane")
NOW = datetime(2026, 11, 30, 2, tzinfo=timezone.utc)  # Monday, noon in Brisbane


def turn(text, intent, answer, days_ago):
    at = (NOW - timedelta(days=days_ago)).timestamp()
    return [
        UserUttered(text, {"name": intent, "confidence": 0.9}, timestamp=at),
        ActionExecuted(answer, timestamp=at + 1),
        BotUttered("...", timestamp=at + 1),
        ActionExecuted("action_listen", timestamp=at + 2),
    ]


@pytest.fixture
async def stored(tmp_path):
    db = str(tmp_path / "conversations.db")
    trackers = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    conversations = {
        "web:asks-and-books": turn(
            "does it hurt", "faq_does_it_hurt", "utter_faq_does_it_hurt", 1
        )
        + turn("book me in", "book_appointment", "booking_form", 1),
        "web:asks-only": turn(
            "what are the side effects", "faq_side_effects", "utter_faq_side_effects", 8
        )
        + turn(
            "my name is Priya, call 0412 345 678 about my warfarin",
            "nlu_fallback",
            "action_handle_fallback",
            8,
        ),
        "web:pregnant": turn(
            "I'm pregnant, is it safe for me?",
            "personal_advice",
            "utter_personal_advice",
            2,
        ),
        "web:other": turn(
            "what's the weather", "out_of_scope", "utter_out_of_scope", 3
        ),
        "web:too-old": turn(
            "does it hurt", "faq_does_it_hurt", "utter_faq_does_it_hurt", 70
        ),
    }
    for sender, events in conversations.items():
        await trackers.save(DialogueStateTracker.from_events(sender, events, slots=[]))
    store = BookingStore(f"sqlite:///{tmp_path / 'clinic.db'}", ("email",))
    store.submit(
        BookingRequest(
            first_name="Ana", phone="+61412345678", conversation_id="web:asks-and-books"
        )
    )
    queue = HandoffQueue(store.url)
    answered = queue.request("web:a", "socketio", "k1", now=NOW - timedelta(days=1))
    queue.take(answered.id, "jo@clinic.example", "Jo")
    queue.hand_back(answered.id)
    missed = queue.request("web:b", "socketio", "k2", now=NOW - timedelta(days=2))
    queue.claim_overdue(timedelta(minutes=3))
    assert queue.get(missed.id).status == "missed"
    yield f"sqlite:///{db}", store, queue
    store.engine.dispose()
    queue.engine.dispose()


async def test_the_weeks_numbers(stored):
    url, store, queue = stored
    insights = summarise(Conversations(url), store, queue, ZONE, now=NOW)
    assert insights.weeks == ["2026-11-16", "2026-11-23"]
    assert insights.topics["faq_does_it_hurt"] == {"2026-11-23": 1}
    assert "2026-09" not in json.dumps(insights.topics), "older than eight weeks"
    kinds = {kind: text for _, kind, text in insights.unanswered}
    assert kinds["referred to a physio"] == "I'm pregnant, is it safe for me?"
    assert kinds["out of scope"] == "what's the weather"
    fell_back = kinds["fell back"]
    assert "Priya" not in fell_back and "345 678" not in fell_back
    assert "warfarin" in fell_back
    assert (insights.asked, insights.booked) == (3, 1)
    assert insights.handoffs == {"answered": 1, "missed": 1, "waiting": 0}


async def test_the_csv_has_every_section(stored):
    url, store, queue = stored
    rows = list(
        csv.reader(
            io.StringIO(
                as_csv(summarise(Conversations(url), store, queue, ZONE, now=NOW))
            )
        )
    )
    assert rows[0] == ["topic", "intent", "2026-11-16", "2026-11-23", "total"]
    assert ["Does it hurt?", "faq_does_it_hurt", "0", "1", "1"] in rows
    assert ["handoffs missed", "1"] in rows
    assert ["... of which requested a booking or callback", "1"] in rows


@pytest.mark.parametrize(
    "message, hidden",
    [
        ("call me Jess on 0412 345 678", ["Jess", "345 678"]),
        ("email sam.k@example.com please", ["sam.k@"]),
        ("medicare 2123 45670 1", ["2123 45670"]),
        ("Zara Quinn here, does it hurt?", ["Zara", "Quinn"]),
        ("Zara here", ["Zara"]),
        ("Hi, Zara here about my neck", ["Zara"]),
        ("my name is Priya Sharma", ["Priya", "Sharma"]),
        ("my name is zara", ["zara"]),
        ("zara.q at example dot com", ["zara", "example"]),
        ("it's zara dot q at example dot com dot au thanks", ["zara", "example"]),
        ("write to zara.q (at) example (dot) com", ["zara", "example"]),
    ],
)
def test_personal_details_are_masked(message, hidden):
    for part in hidden:
        assert part not in masked(message)


@pytest.mark.parametrize(
    "message",
    [
        "i'm sore after needling",
        "Anyone here?",
        "Is parking here?",
        "I'm here for my appointment",
        "what time do you open at the clinic",
        "I was at work. Com games are fun",
    ],
)
def test_ordinary_words_stay(message):
    assert masked(message) == message


async def test_messages_that_are_only_markup_are_listed_as_unanswered(tmp_path):
    """Whatever the classifier made of them, "<b></b>" or a script tag left
    the patient without an answer: reception must see them."""
    db = str(tmp_path / "conversations.db")
    trackers = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    probes = {
        "<b></b>": "inform",
        "<script>alert(1)</script>": "inform",
        "<img src=x>": "greet",
        "<b>does it hurt</b>": "faq_does_it_hurt",
    }
    for n, (said, intent) in enumerate(probes.items()):
        await trackers.save(
            DialogueStateTracker.from_events(
                f"web:{n}", turn(said, intent, "utter_x", 1), slots=[]
            )
        )
    store = BookingStore(f"sqlite:///{tmp_path / 'clinic.db'}", ("email",))
    queue = HandoffQueue(store.url)
    insights = summarise(Conversations(f"sqlite:///{db}"), store, queue, ZONE, now=NOW)
    store.engine.dispose()
    queue.engine.dispose()
    assert sorted(text for _, kind, text in insights.unanswered) == [
        "<b></b>",
        "<img src=x>",
        "<script>alert(1)</script>",
    ]
    assert {kind for _, kind, _ in insights.unanswered} == {"no words (only markup)"}
    assert insights.asked == 1, "the question in bold still counts as one"


async def test_the_weeks_can_be_chosen(console):
    headers = await staff_headers(console)
    week = await (await console.get("/staff/questions?weeks=1", headers=headers)).text()
    assert "Totals, last week" in week
    year = await (
        await console.get("/staff/questions?weeks=52", headers=headers)
    ).text()
    assert "Totals, last 52 weeks" in year and "What it treats" in year
    assert 'href="/staff/questions.csv?weeks=52"' in year


@pytest.fixture
async def console(monkeypatch, tmp_path, node_modules):
    from bot.settings import load_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "conversations.db"))
    settings = load_settings()
    accounts = Accounts(settings.database_url)
    accounts.add("desk@clinic.example", PASSWORD, "Jo")
    store = BookingStore.from_settings(settings)
    store.submit(
        BookingRequest(
            first_name="Priya", phone="+61412345678", conversation_id="web:p"
        )
    )
    trackers = SQLTrackerStore(
        Domain.empty(), dialect="sqlite", db=str(settings.tracker_db)
    )
    await trackers.save(
        DialogueStateTracker.from_events(
            "web:p", turn("sore neck", "faq_conditions_treated", "utter_x", 1), slots=[]
        )
    )
    app = create_app(settings, clinic(), node_modules)
    async with TestClient(TestServer(app)) as client:
        client.store, client.accounts = store, accounts
        client.conversations = Conversations.from_settings(settings)
        yield client
    accounts.engine.dispose()
    store.engine.dispose()


async def staff_headers(client) -> dict:
    response = await log_in(client)
    return {"Cookie": f"staff_session={response.cookies['staff_session'].value}"}


@pytest.mark.parametrize(
    "path", ["/staff/questions", "/staff/questions.csv", "/staff/privacy",
             "/staff/privacy/export?phone=0412345678"],
)  # fmt: skip
async def test_the_new_pages_need_a_login(console, path):
    response = await console.get(path, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/staff/login"


async def test_staff_find_export_and_delete_one_person(console):
    headers = await staff_headers(console)
    found = await (
        await console.get("/staff/privacy?phone=0412+345+678", headers=headers)
    ).text()
    assert "Priya" in found and "Delete everything about this person" in found
    exported = await console.get(
        "/staff/privacy/export?phone=%2B61412345678&email=", headers=headers
    )
    data = json.loads(await exported.text())
    assert data["requests"][0]["name"] == "Priya"
    assert data["conversations"][handle("web:p")][0]["text"] == "sore neck"

    confirm = await (
        await console.get("/staff/privacy/delete?phone=0412345678", headers=headers)
    ).text()
    assert "1 request" in confirm and handle("web:p") in confirm
    form = {
        "csrf": hidden_csrf(confirm),
        "phone": "+61412345678",
        "seen": re.search(r'name="seen" value="([0-9a-f]+)"', confirm).group(1),
    }
    unconfirmed = await console.post(
        "/staff/privacy/delete", data=form, headers=headers
    )
    forged = await console.post(
        "/staff/privacy/delete",
        data={**form, "csrf": "forged", "confirm": "yes"},
        headers=headers,
    )
    assert (unconfirmed.status, forged.status) == (400, 403)
    assert console.store.list()

    deleted = await console.post(
        "/staff/privacy/delete",
        data={**form, "confirm": "yes"},
        headers=headers,
    )
    assert "Deleted 1 request and 1 conversation" in await deleted.text()
    assert console.store.list() == []
    assert console.conversations.transcript("web:p") == []
    actions = [e.action for e in console.accounts.audit_log()]
    assert {"searched a person", "exported a person", "deleted a person"} <= set(
        actions
    )


async def test_a_bad_search_is_answered_plainly(console):
    headers = await staff_headers(console)
    response = await console.get("/staff/privacy?phone=12", headers=headers)
    assert response.status == 400
    assert "not an Australian phone number" in await response.text()


async def test_what_patients_ask_page_and_csv(console):
    headers = await staff_headers(console)
    page = await (await console.get("/staff/questions", headers=headers)).text()
    assert "What it treats" in page and "1 conversation asked a question" in page
    assert "faq_conditions_treated" not in page, "reception reads topics, not intents"
    exported = await console.get("/staff/questions.csv", headers=headers)
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert "What it treats,faq_conditions_treated" in await exported.text()


def test_every_intent_has_a_topic_title():
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    intents = [i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]]
    assert sorted(set(intents) - set(TITLES)) == []
    assert sorted(set(TITLES) - set(intents) - {"nlu_fallback"}) == []
