"""Privacy requests under attack and under the privacy officer's eye: a
patient who asked to be forgotten before the clinic was told leaves no copy
once it has been; the widget's id (the key to a patient's chat) is in no
email, export or webhook; staff see what a deletion will take before it
happens, and the numbers it reports cannot be made up in the address."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import text

from actions import services
from actions.delivery import pending_deliveries
from actions.handoff import ActionHandoffHuman
from actions.privacy import ActionForgetMe
from bot.booking.export import export_csv
from bot.booking.records import BookingRequest
from bot.booking.store import BookingStore
from bot.channels.ids import WidgetIds
from bot.console.accounts import Accounts
from bot.conversation_ids import handle
from bot.conversations import Conversations
from bot.handoff.queue import HandoffQueue
from bot.notify.outbox import booking_email, deliver_due
from bot.privacy.requests import export_person
from bot.rasa.tracker_store import SQLTrackerStore
from bot.web.server import create_app
from tests.conftest import make_tracker, user_event
from tests.unit.test_console_insights import staff_headers
from tests.unit.test_console_web import PASSWORD, hidden_csrf
from tests.unit.test_privacy import everything
from tests.unit.test_web import clinic

pytestmark = pytest.mark.usefixtures("quick_hashes")
# The widget's id, as the server issues it: whoever holds it holds the chat.
WIDGET = "web:" + WidgetIds("test key").issue()
SECRET_PART = WIDGET.split(":", 1)[1]
OPEN_HOURS = datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Australia/Brisbane"))
ZARA = {
    "name": "Zara",
    "phone": "+61412987654",
    "typed phone": "0412 987 654",
    "email": "zara.q@example.com",
    "words": "stiff jaw after the dentist",
}


def zara(conversation: str = WIDGET, **changes) -> BookingRequest:
    values = dict(
        first_name=ZARA["name"],
        phone=ZARA["phone"],
        email=ZARA["email"],
        concern=ZARA["words"],
        conversation_id=conversation,
    )
    values.update(changes)
    return BookingRequest(**values)


def traces(conversation: str = WIDGET) -> list[str]:
    """Every way Zara's details or her chat's key could be written down."""
    return [
        ZARA["name"],
        ZARA["phone"],
        ZARA["typed phone"],
        "412987654",
        ZARA["email"],
        ZARA["words"],
        conversation,
        conversation.split(":", 1)[1],
    ]


def queued_mail(store: BookingStore) -> str:
    """What the outbox holds for staff that is still to be sent."""
    with store.engine.connect() as conn:
        return json.dumps(
            [
                list(map(str, row))
                for row in conn.execute(
                    text(
                        "SELECT subject, body, dedupe_key FROM notifications "
                        "WHERE status = 'pending'"
                    )
                )
            ]
        )


def at_the_clinic(monkeypatch) -> None:
    from actions import handoff

    monkeypatch.setattr(handoff, "now", lambda: OPEN_HOURS)


async def test_a_forgotten_patient_leaves_no_copy_once_the_clinic_has_it(
    monkeypatch, store, domain
):
    """Zara books, asks for a person and asks to be forgotten, all while the
    mail server is down. While it stays down the outbox must hold nothing
    of hers; once it is back the clinic gets her request, and then nothing
    of her is left in the bookings database."""
    at_the_clinic(monkeypatch)

    def mail_down(_item):
        raise OSError("smtp down")

    monkeypatch.setattr(
        services,
        "notification_senders",
        lambda: {"email": mail_down, "staff_email": mail_down},
    )
    store.submit(zara())
    history = [
        user_event(f"I'm {ZARA['name']}, {ZARA['typed phone']}", "inform"),
        user_event(f"{ZARA['email']}, {ZARA['words']}", "inform"),
    ]
    tracker = make_tracker(
        "can I talk to a person", "human_handoff", history=history, sender_id=WIDGET
    )
    await ActionHandoffHuman().run(CollectingDispatcher(), tracker, domain)
    await pending_deliveries()
    deliver_due(store, {"email": mail_down, "staff_email": mail_down})

    dispatcher = CollectingDispatcher()
    await ActionForgetMe().run(
        dispatcher, make_tracker("yes", "affirm", sender_id=WIDGET), domain
    )
    assert dispatcher.messages[0]["response"] == "utter_forgotten_after_notice"
    waiting = queued_mail(store)
    for trace in traces():
        assert trace not in waiting, f"{trace!r} waits in the outbox"
    assert store.handoffs.open() == []

    sent = []
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    deliver_due(store, {"email": sent.append, "staff_email": sent.append}, now=later)
    [request] = [item for item in sent if hasattr(item, "reference")]
    subject, body = booking_email(request)
    assert ZARA["name"] in subject, "the clinic still gets what it needs"
    assert "Forget after delivery" in body
    [withdrawn] = [item for item in sent if not hasattr(item, "reference")]
    for trace in traces():
        assert trace not in withdrawn.subject + withdrawn.body
    left = everything(store)
    for trace in [*traces(), request.reference, handle(WIDGET)]:
        assert trace not in left, f"{trace!r} is still in the bookings database"


async def test_the_widgets_id_is_in_no_email_export_or_webhook(
    monkeypatch, store, domain, tmp_path
):
    """An attacker who reads a forwarded email, a shared CSV, the webhook's
    log or a patient's export must not get the key to the chat."""
    from bot.notify import outbox
    from bot.settings import load_settings

    at_the_clinic(monkeypatch)
    mailed, posted = [], []
    monkeypatch.setattr(outbox, "send_mail", lambda *args: mailed.append(args))
    monkeypatch.setattr(outbox, "post_signed", lambda *args: posted.append(args))
    monkeypatch.setenv("BOOKING_WEBHOOK_URL", "https://clinic.example/hook")
    monkeypatch.setenv("BOOKING_WEBHOOK_SECRET", "s3cret")
    senders = outbox.default_senders(load_settings(), services.clinic())
    monkeypatch.setattr(services, "notification_senders", lambda: senders)

    both = BookingStore(store.url, ("email", "webhook"))
    both.submit(zara())
    both.engine.dispose()
    tracker = make_tracker("a real person", "human_handoff", sender_id=WIDGET)
    await ActionHandoffHuman().run(CollectingDispatcher(), tracker, domain)
    await pending_deliveries()
    deliver_due(store, senders)

    printed = {
        "emails": json.dumps([list(m) for m in mailed], default=str),
        "webhook": json.dumps([p[2] for p in posted]),
        "CSV": export_csv(store.list()),
        "export": json.dumps(
            export_person(
                store,
                Conversations(f"sqlite:///{tmp_path / 'c.db'}"),
                ZARA["phone"],
                None,
            )
        ),
    }
    assert len(mailed) == 2 and len(posted) == 1
    for where, said in printed.items():
        assert SECRET_PART not in said, f"the widget's id is in the {where}"
        assert handle(WIDGET) in said, f"the {where} names no conversation"
    handoff_mail = next(m for m in mailed if "handoff" in m[2])
    assert f"python -m bot handoff resume {handle(WIDGET)}" in handoff_mail[3]
    assert re.search(r"/staff/handoffs/\d+", handoff_mail[3])


def test_staff_resume_a_handoff_by_the_handle_the_email_gives(
    monkeypatch, tmp_path, capsys
):
    from bot import __main__ as cli
    from bot.handoff import resume as handoff

    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("RASA_API_TOKEN", "t" * 32)
    queue = HandoffQueue(url)
    queue.request(WIDGET, "socketio", "k1")
    queue.request("web:someone-else", "socketio", "k2")
    resumed = []
    monkeypatch.setattr(handoff, "resume", lambda _url, _t, c: resumed.append(c))

    assert cli.main(["handoff", "resume", handle(WIDGET)]) == 0
    assert resumed == [WIDGET]
    assert queue.open_for(WIDGET) is None, "handed back in the console too"
    assert queue.open_for("web:someone-else") is not None
    out = capsys.readouterr()
    assert handle(WIDGET) in out.out and SECRET_PART not in out.out + out.err

    assert cli.main(["handoff", "resume", "web-0000000000"]) == 1
    assert resumed == [WIDGET], "an unknown handle resumes nothing"
    queue.engine.dispose()


# The console.


@pytest.fixture
async def console(monkeypatch, tmp_path, node_modules):
    """The website with Zara's two requests (one from another conversation,
    with another email), a conversation where she only typed her number,
    and Tom."""
    from bot.settings import load_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "conversations.db"))
    settings = load_settings()
    accounts = Accounts(settings.database_url)
    accounts.add("desk@clinic.example", PASSWORD, "Jo")
    store = BookingStore.from_settings(settings)
    store.submit(zara())
    store.submit(zara("web:zara-later", email="zara@home.example"))
    store.submit(zara("web:tom", first_name="Tom", phone="+61400111222", email=None))
    trackers = SQLTrackerStore(
        Domain.empty(), dialect="sqlite", db=str(settings.tracker_db)
    )
    chats = {
        WIDGET: [UserUttered(ZARA["words"], {"name": "inform"})],
        "web:zara-later": [UserUttered("book me in again", {"name": "inform"})],
        "web:zara-typed": [
            UserUttered(f"my number is {ZARA['typed phone']}", {"name": "inform"}),
            SlotSet("phone", ZARA["phone"]),
        ],
        "web:tom": [UserUttered("calf cramps", {"name": "inform"})],
    }
    for sender, events in chats.items():
        await trackers.save(DialogueStateTracker.from_events(sender, events, slots=[]))
    app = create_app(settings, clinic(), node_modules)
    async with TestClient(TestServer(app)) as client:
        client.store, client.accounts = store, accounts
        client.conversations = Conversations.from_settings(settings)
        yield client
    accounts.engine.dispose()
    store.engine.dispose()


async def test_staff_see_everything_of_either_detail_before_it_is_deleted(console):
    """The privacy officer: a search by phone and email finds every request
    and conversation holding either, the confirmation lists them, and the
    page reports what the database deleted, once."""
    headers = await staff_headers(console)
    query = "phone=0412+987+654&email=zara%40home.example"
    found = await (await console.get(f"/staff/privacy?{query}", headers=headers)).text()
    for conversation in (WIDGET, "web:zara-later", "web:zara-typed"):
        assert handle(conversation) in found
    assert "Tom" not in found and SECRET_PART not in found

    page = await console.get(f"/staff/privacy/delete?{query}", headers=headers)
    confirm = await page.text()
    assert page.status == 200 and "2 requests" in confirm
    assert "3 conversations" in confirm and handle("web:zara-typed") in confirm
    assert len(console.store.list()) == 3, "nothing deleted by looking"

    form = {
        "csrf": hidden_csrf(confirm),
        "phone": "+61412987654",
        "email": "zara@home.example",
        "seen": re.search(r'name="seen" value="([0-9a-f]+)"', confirm).group(1),
    }
    unconfirmed = await console.post(
        "/staff/privacy/delete", data=form, headers=headers
    )
    unseen = await console.post(
        "/staff/privacy/delete",
        data={**form, "seen": "", "confirm": "yes"},
        headers=headers,
    )
    assert (unconfirmed.status, unseen.status) == (400, 400)
    assert len(console.store.list()) == 3

    deleted = await console.post(
        "/staff/privacy/delete",
        data={**form, "confirm": "yes"},
        headers=headers,
        allow_redirects=False,
    )
    assert deleted.status == 303
    result = deleted.headers["Location"]
    assert re.fullmatch(r"/staff/privacy\?result=[A-Za-z0-9_-]+", result)
    shown = await (await console.get(result, headers=headers)).text()
    assert "Deleted 2 requests and 3 conversations" in shown
    again = await (await console.get(result, headers=headers)).text()
    assert "Deleted" not in again, "shown once"
    assert [b.name for b in console.store.list()] == ["Tom"]
    assert console.conversations.transcript("web:zara-typed") == []
    assert console.conversations.transcript("web:tom")


async def test_a_deletion_after_the_list_changed_deletes_nothing(console):
    headers = await staff_headers(console)
    confirm = await (
        await console.get("/staff/privacy/delete?phone=0412987654", headers=headers)
    ).text()
    console.store.submit(zara("web:zara-meanwhile"))
    response = await console.post(
        "/staff/privacy/delete",
        data={
            "csrf": hidden_csrf(confirm),
            "phone": "0412987654",
            "seen": re.search(r'name="seen" value="([0-9a-f]+)"', confirm).group(1),
            "confirm": "yes",
        },
        headers=headers,
    )
    page = await response.text()
    assert response.status == 409 and "Nothing was deleted" in page
    assert "3 requests" in page, "the list is shown again, as it is now"
    assert len(console.store.list()) == 4


async def test_a_crafted_address_cannot_report_a_deletion(console):
    """A link sent to reception must not make the console claim that data
    was deleted when it was not."""
    headers = await staff_headers(console)
    crafted = await console.get(
        "/staff/privacy?requests=999&conversations=999", headers=headers
    )
    assert crafted.status == 400 and "999" not in await crafted.text()
    made_up = await console.get(
        "/staff/privacy?result=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", headers=headers
    )
    assert made_up.status == 200 and "Deleted" not in await made_up.text()


async def test_another_staff_member_cannot_read_a_deletions_result(console):
    jo = await staff_headers(console)
    confirm = await (
        await console.get("/staff/privacy/delete?phone=0400111222", headers=jo)
    ).text()
    deleted = await console.post(
        "/staff/privacy/delete",
        data={
            "csrf": hidden_csrf(confirm),
            "phone": "0400111222",
            "seen": re.search(r'name="seen" value="([0-9a-f]+)"', confirm).group(1),
            "confirm": "yes",
        },
        headers=jo,
        allow_redirects=False,
    )
    other = await staff_headers(console)
    page = await console.get(deleted.headers["Location"], headers=other)
    assert "Deleted" not in await page.text()


@pytest.mark.parametrize(
    "path",
    [
        "/staff/questions?weeks=abc",
        "/staff/questions?weeks=-1",
        "/staff/questions?weeks=0",
        "/staff/questions?weeks=53",
        "/staff/questions?weeks=%C2%B2",
        "/staff/questions.csv?weeks=1e3",
        "/staff/questions?since=yesterday",
        "/staff/privacy?requests=x",
        "/staff/privacy?phone=12",
        "/staff/privacy?email=not-an-email",
        "/staff/privacy?result=%3Cscript%3E",
        "/staff/privacy/export?phone=abc",
        "/staff/privacy/export",
        "/staff/privacy/delete?phone=",
        "/staff/bookings.csv?status=deleted",
        "/staff/bookings.csv?limit=5",
    ],
)
async def test_a_bad_query_value_is_answered_400_with_a_reason(console, path):
    headers = await staff_headers(console)
    response = await console.get(path, headers=headers)
    said = await response.text()
    assert response.status == 400
    assert len(said) > 10 and "Traceback" not in said


@pytest.mark.parametrize(
    "path", ["/staff/questions?weeks=2", "/staff/bookings.csv?status=new"]
)
async def test_good_query_values_still_work(console, path):
    headers = await staff_headers(console)
    assert (await console.get(path, headers=headers)).status == 200


async def test_a_request_to_be_forgotten_is_marked_wherever_staff_see_it(console):
    """Reception must not treat a request the patient asked to forget as an
    ordinary one: the inbox, the privacy page and both exports say so."""
    console.store.forget_conversation(WIDGET)
    headers = await staff_headers(console)
    inbox = await (await console.get("/staff", headers=headers)).text()
    assert inbox.count("Forget after delivery") == 1
    found = await (
        await console.get("/staff/privacy?phone=0412987654", headers=headers)
    ).text()
    assert found.count("Forget after delivery") == 1
    exported = await (await console.get("/staff/bookings.csv", headers=headers)).text()
    rows = {
        r["conversation"]: r["forget_after_delivery"]
        for r in csv.DictReader(io.StringIO(exported))
    }
    assert rows[handle(WIDGET)] == "yes" and rows[handle("web:tom")] == ""
    data = json.loads(
        await (
            await console.get("/staff/privacy/export?phone=0412987654", headers=headers)
        ).text()
    )
    marks = {r["conversation"]: r["forget_after_delivery"] for r in data["requests"]}
    assert marks == {handle(WIDGET): True, handle("web:zara-later"): False}


async def test_the_audit_log_does_not_keep_the_persons_details(console):
    """The log outlives the deletion it records."""
    headers = await staff_headers(console)
    await console.get(
        "/staff/privacy?phone=0412987654&email=zara%40home.example", headers=headers
    )
    await console.get("/staff/privacy/export?phone=0412987654", headers=headers)
    logged = json.dumps([e.target for e in console.accounts.audit_log()])
    assert "searched a person" in {e.action for e in console.accounts.audit_log()}
    for trace in ("412987654", "987 654", "zara@home.example", "zara.q"):
        assert trace not in logged
