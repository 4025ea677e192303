"""Requests queued while the database is down reach it exactly once."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.booking.records import BookingRequest
from bot.booking.spool import Spool, drain, dump_request, load_request, submit_or_queue
from bot.booking.store import BookingStore

DOWN = "postgresql://nobody@127.0.0.1:1/x"


def request(**overrides) -> BookingRequest:
    values = dict(
        first_name="Priya",
        phone="+61412345678",
        conversation_id="conv-1",
        preferred_text="tomorrow arvo",
        preferred_start=datetime(
            2026, 11, 25, 12, tzinfo=ZoneInfo("Australia/Brisbane")
        ),
        preferred_end=datetime(2026, 11, 25, 17, tzinfo=ZoneInfo("Australia/Brisbane")),
        preferred_label="Wed 25 Nov, afternoon",
        concern='=HYPERLINK("x")',
        consent=True,
        channel="rest",
    )
    values.update(overrides)
    return BookingRequest(**values)


@pytest.fixture
def store(tmp_path):
    return BookingStore(f"sqlite:///{tmp_path / 'clinic.db'}")


def test_a_request_survives_the_round_trip_through_json():
    original = request()
    assert load_request(dump_request(original)) == original


def test_database_down_queues_then_drain_stores_with_the_same_reference(
    tmp_path, store
):
    spool = Spool(tmp_path / "spool.db")
    reference, how, booking = submit_or_queue(BookingStore(DOWN), spool, request())
    assert (how, booking) == ("queued", None)
    assert store.list() == []
    assert drain(store, spool) == 1
    [row] = store.list()
    assert row.reference == reference and row.concern == '=HYPERLINK("x")'
    assert spool.waiting() == []
    assert drain(store, spool) == 0 and len(store.list()) == 1


def test_a_crash_between_storing_and_dequeuing_makes_no_duplicate(tmp_path, store):
    spool = Spool(tmp_path / "spool.db")
    reference, _, _ = submit_or_queue(BookingStore(DOWN), spool, request())
    [(_, queued_reference, queued)] = spool.waiting()
    store.submit(queued, reference=queued_reference)
    assert drain(store, spool) == 1
    [row] = store.list()
    assert row.reference == reference


def test_drain_stops_at_a_database_still_down_and_keeps_the_queue(tmp_path):
    spool = Spool(tmp_path / "spool.db")
    submit_or_queue(BookingStore(DOWN), spool, request())
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        drain(BookingStore(DOWN), spool)
    assert len(spool.waiting()) == 1


def test_database_up_stores_directly(tmp_path, store):
    spool = Spool(tmp_path / "spool.db")
    reference, how, booking = submit_or_queue(store, spool, request())
    assert how == "stored" and booking.reference == reference
    assert spool.waiting() == []


def test_a_refused_request_does_not_hold_up_the_others(tmp_path, store, caplog):
    from sqlalchemy.exc import IntegrityError

    spool = Spool(tmp_path / "spool.db")
    first, _, _ = submit_or_queue(BookingStore(DOWN), spool, request(phone="bad"))
    second, _, _ = submit_or_queue(
        BookingStore(DOWN), spool, request(conversation_id="conv-2")
    )
    real_submit = store.submit

    def refuse_bad_phone(req, reference=None):
        if req.phone == "bad":
            raise IntegrityError("INSERT", {}, Exception("check constraint"))
        return real_submit(req, reference=reference)

    store.submit = refuse_bad_phone
    assert drain(store, spool) == 1
    assert [row.reference for row in store.list()] == [second]
    assert [ref for _, ref, _ in spool.waiting()] == [first]
    assert f"queued request {first} refused" in caplog.text


def test_an_unreadable_queue_entry_is_kept_and_skipped(tmp_path, store, caplog):
    import sqlite3

    spool = Spool(tmp_path / "spool.db")
    submit_or_queue(BookingStore(DOWN), spool, request())
    with sqlite3.connect(spool.path) as conn:
        conn.execute(
            "INSERT INTO waiting (reference, request) VALUES ('DN-BROKEN', '{oops')"
        )
    conn.close()
    submit_or_queue(BookingStore(DOWN), spool, request(conversation_id="conv-3"))
    assert drain(store, spool) == 2
    assert len(store.list()) == 2
    assert "DN-BROKEN" in caplog.text
    with sqlite3.connect(spool.path) as conn:
        left = conn.execute("SELECT reference FROM waiting").fetchall()
    conn.close()
    assert left == [("DN-BROKEN",)]
