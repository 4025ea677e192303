"""Requests queued while the database is down reach it exactly once."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.booking.spool import Spool, drain, dump_request, load_request, submit_or_queue
from bot.booking.store import BookingRequest, BookingStore

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
