"""Booking storage on SQLite and, when TEST_POSTGRES_URL is set, PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from bot.booking.export import export_csv
from bot.booking.records import BookingRequest
from bot.booking.reference import looks_like_reference
from bot.booking.store import BookingStore
from bot.notify.outbox import booking_email, deliver_due

BRISBANE = ZoneInfo("Australia/Brisbane")


def postgres_url() -> str | None:
    return os.environ.get("TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield BookingStore(f"sqlite:///{tmp_path / 'clinic.db'}", ("email", "webhook"))
        return
    base = postgres_url()
    if not base:
        pytest.skip("TEST_POSTGRES_URL not set (.ci/run starts a PostgreSQL server)")
    name = f"test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    store = BookingStore(base.rsplit("/", 1)[0] + f"/{name}", ("email", "webhook"))
    yield store
    store.engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}"'))
    admin.dispose()


def request(**overrides) -> BookingRequest:
    values = dict(
        first_name="Priya",
        phone="+61412345678",
        email="priya@example.com",
        preferred_text="tomorrow arvo",
        preferred_start=datetime(2026, 11, 25, 12, tzinfo=BRISBANE),
        preferred_end=datetime(2026, 11, 25, 17, tzinfo=BRISBANE),
        preferred_label="Wed 25 Nov, afternoon",
        concern="sore lower back",
        consent=True,
        channel="rest",
        conversation_id="conv-1",
    )
    values.update(overrides)
    return BookingRequest(**values)


def test_submit_stores_every_field(store):
    booking, created = store.submit(request())
    assert created and looks_like_reference(booking.reference)
    stored = store.get(booking.reference)
    assert stored == booking
    assert stored.preferred_time == {
        "text": "tomorrow arvo",
        "label": "Wed 25 Nov, afternoon",
        "start": "2026-11-25T02:00:00+00:00",
        "end": "2026-11-25T07:00:00+00:00",
    }
    assert (stored.name, stored.phone, stored.status) == (
        "Priya",
        "+61412345678",
        "new",
    )
    assert stored.consent is True and stored.conversation_id == "conv-1"


def test_retried_submit_creates_one_row(store):
    first, created = store.submit(request())
    again, created_again = store.submit(request(channel="socketio"))
    assert created and not created_again
    assert again.reference == first.reference
    assert len(store.list()) == 1


def test_different_answers_are_different_requests(store):
    store.submit(request())
    store.submit(request(phone="+61731234567"))
    store.submit(request(conversation_id="conv-2"))
    assert len(store.list()) == 3
    assert len({b.reference for b in store.list()}) == 3


def test_references_stay_unique_when_one_collides(store, monkeypatch):
    first, _ = store.submit(request())
    codes = iter([first.reference, first.reference, "DN-7777"])
    monkeypatch.setattr("bot.booking.store.new_reference", lambda: next(codes))
    second, created = store.submit(request(conversation_id="conv-2"))
    assert created and second.reference == "DN-7777"


def test_list_filters_and_mark_changes_status(store):
    a, _ = store.submit(request())
    b, _ = store.submit(request(conversation_id="conv-2"))
    store.mark(a.reference.lower(), "contacted")
    assert [x.reference for x in store.list("new")] == [b.reference]
    assert store.get(a.reference).status == "contacted"
    with pytest.raises(ValueError):
        store.mark(b.reference, "deleted")
    with pytest.raises(KeyError):
        store.mark("DN-XXXX", "contacted")


def test_injection_in_fields_is_stored_as_text(store):
    evil = "Robert'); DROP TABLE booking_requests; --"
    booking, _ = store.submit(request(first_name=evil, concern="<script>x</script>"))
    assert store.get(booking.reference).name == evil
    assert store.get(booking.reference).concern == "<script>x</script>"
    assert len(store.list()) == 1


def test_csv_export_neutralises_formulas(store):
    store.submit(request(first_name='=HYPERLINK("http://x")', concern="@SUM(A1)"))
    rows = list(csv.DictReader(io.StringIO(export_csv(store.list()))))
    assert rows[0]["name"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["concern"] == "'@SUM(A1)"
    assert rows[0]["phone"] == "'+61412345678"


def test_each_booking_queues_its_notifications(store):
    booking, _ = store.submit(request())
    assert store.notification_status(booking.reference) == {
        "email": "pending",
        "webhook": "pending",
    }


def test_failed_notification_stays_queued_and_is_retried(store):
    booking, _ = store.submit(request())
    sent: list[str] = []

    def broken(_):
        raise ConnectionRefusedError("smtp down")

    counts = deliver_due(
        store, {"email": broken, "webhook": lambda b: sent.append("w")}
    )
    assert counts == {"sent": 1, "failed": 1}
    assert store.notification_status(booking.reference) == {
        "email": "pending",
        "webhook": "sent",
    }
    assert store.claim_due_notifications() == []
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    [due] = store.claim_due_notifications(later)
    assert due.target == "email" and due.attempts == 1


def test_booking_email_carries_the_request(store):
    booking, _ = store.submit(request())
    subject, body = booking_email(booking)
    assert booking.reference in subject and "Priya" in subject
    assert "+61412345678" in body and "Wed 25 Nov, afternoon" in body
    assert "sore lower back" in body and "Consent to contact: yes" in body


def test_a_claimed_notification_is_not_handed_out_twice(store):
    """The retry loop and a new booking (or two instances) deliver at once."""
    booking, _ = store.submit(request())
    first = store.claim_due_notifications()
    assert sorted(n.target for n in first) == ["email", "webhook"]
    assert store.claim_due_notifications() == []
    other = BookingStore(store.url, ("email", "webhook"))
    assert other.claim_due_notifications() == []
    after_lease = datetime.now(timezone.utc) + timedelta(minutes=3)
    assert len(other.claim_due_notifications(after_lease)) == 2
    other.engine.dispose()


def test_failed_delivery_backs_off_by_the_configured_base(store):
    store.submit(request())
    quick = BookingStore(store.url, ("email", "webhook"), timedelta(seconds=1))
    counts = deliver_due(quick, {"email": lambda b: 1 / 0, "webhook": lambda b: None})
    assert counts == {"sent": 1, "failed": 1}
    soon = datetime.now(timezone.utc) + timedelta(seconds=2)
    [due] = quick.claim_due_notifications(soon)
    assert due.target == "email" and due.attempts == 1
    quick.engine.dispose()


def test_action_servers_starting_together_on_an_empty_database_all_store(store):
    """Two action servers (the cluster) create the tables on their first
    booking. When both do it at once, PostgreSQL refuses one CREATE as a
    duplicate; that process must still store its bookings, then and later."""
    import threading

    stores = [BookingStore(store.url, ("email",)) for _ in range(6)]
    start = threading.Barrier(len(stores))
    first: list[object] = [None] * len(stores)

    def book(i: int) -> None:
        start.wait()
        try:
            first[i] = stores[i].submit(request(conversation_id=f"together-{i}"))[0]
        except Exception as error:  # noqa: BLE001 - recorded, asserted below
            first[i] = error

    threads = [threading.Thread(target=book, args=(i,)) for i in range(len(stores))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not [r for r in first if isinstance(r, Exception)], first
        later = [
            s.submit(request(conversation_id=f"later-{i}"))
            for i, s in enumerate(stores)
        ]
        assert all(new for _, new in later)
        assert len(store.list()) == 2 * len(stores)
    finally:
        for s in stores:
            if s._engine.made is not None:
                s._engine.made.dispose()


def test_find_matches_the_number_or_the_email_as_requests_store_them(store):
    """A privacy search: either detail, typed the way the patient or staff
    type it, finds the person's requests; a request with both is found once."""
    both, _ = store.submit(request())
    phone_only, _ = store.submit(
        request(email="p.other@example.com", conversation_id="conv-2")
    )
    email_only, _ = store.submit(
        request(phone="+61731234567", email="Priya@Example.com", conversation_id="c3")
    )
    store.submit(request(phone="+61400111222", email="tom@example.com", first_name="T"))

    found = store.find("0412 345 678", "PRIYA@example.COM")
    assert [b.reference for b in found] == [
        both.reference,
        phone_only.reference,
        email_only.reference,
    ]
    assert [b.reference for b in store.find("(07) 3123 4567")] == [email_only.reference]
    assert store.find("", "  ") == [] and store.find(None, None) == []


def test_erase_counts_the_rows_the_database_deleted(store):
    booking, _ = store.submit(request())
    store.add_note(booking.reference, "jo@clinic.example", "rang, no answer")
    assert store.erase([booking.reference, "DN-NONE"], ["conv-1"]) == {
        "requests": 1,
        "staff_messages": 0,
    }
    assert store.erase([booking.reference], ["conv-1"])["requests"] == 0
    assert store.notes() == {} and store.list() == []


def test_a_notice_deleted_while_it_was_being_sent_is_not_an_error(store):
    """Staff deleted the person while the outbox was mailing their request."""
    booking, _ = store.submit(request())
    [first, second] = store.claim_due_notifications()
    store.erase([booking.reference], [])
    store.notification_sent(first.id)
    store.notification_failed(second.id, "smtp down")
    assert (
        store.claim_due_notifications(datetime.now(timezone.utc) + timedelta(1)) == []
    )


def test_exports_and_emails_give_the_conversations_handle_not_its_id(store):
    """The widget's id is the patient's key to their chat: a CSV or an email
    that is forwarded must not carry it."""
    from bot.conversation_ids import handle

    secret = "web:AbCdEfGhIjKlMnOpQrStUvWx.0123456789abcdefghijkl"
    booking, _ = store.submit(request(conversation_id=secret))
    exported = export_csv(store.list())
    _, body = booking_email(booking)
    shared = json.dumps(booking.shared())
    for printed in (exported, body, shared):
        assert "AbCdEfGh" not in printed and handle(secret) in printed
    assert list(csv.DictReader(io.StringIO(exported)))[0]["conversation"] == (
        handle(secret)
    )


def test_a_request_to_be_forgotten_says_so_in_the_csv_and_the_email(store):
    kept, _ = store.submit(request())
    store.submit(request(conversation_id="conv-forgotten", first_name="Zara"))
    assert store.forget_conversation("conv-forgotten") == {
        "deleted": 0,
        "after_notice": 1,
    }
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(export_csv(store.list())))}
    assert rows["Zara"]["forget_after_delivery"] == "yes"
    assert rows["Priya"]["forget_after_delivery"] == ""
    forgotten = next(b for b in store.list() if b.name == "Zara")
    assert forgotten.shared()["forget_after_delivery"] is True
    assert "Forget after delivery" in booking_email(forgotten)[1]
    assert "Forget after delivery" not in booking_email(kept)[1]
