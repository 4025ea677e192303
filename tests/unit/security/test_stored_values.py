"""Property tests (Hypothesis): whatever text arrives on any channel, what is
stored can break neither the CSV export, nor the clinic's email, nor JSON."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.booking.export import CSV_FIELDS, export_csv
from bot.booking.records import Booking
from bot.channels.incoming import INVISIBLE, MAX_TEXT, SPACE_LIKE, prepare_text
from bot.notify.outbox import booking_email

ANY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=()), min_size=0, max_size=3000
)
HOSTILE = st.sampled_from(
    ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\t", "\r", "\x00", "\u202e", "\n"]
)


def cleaned() -> st.SearchStrategy[str]:
    """What the cleaning step can hand to Rasa (and so to the stored row)."""
    return st.builds(
        lambda a, b: prepare_text(a + b), st.one_of(HOSTILE, st.just("")), ANY_TEXT
    )


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_the_cleaning_step_leaves_no_invisible_characters(text):
    out = prepare_text(text)
    assert not INVISIBLE.search(out) and not SPACE_LIKE.search(out)
    assert len(out) <= MAX_TEXT
    assert out == unicodedata.normalize("NFC", out)
    assert out == out.strip()
    out.encode("utf8")  # storable


def booking(name: str, concern: str, when: str, conversation: str) -> Booking:
    return Booking(
        reference="DN-TEST",
        kind="assessment",
        name=name,
        phone="+61412345678",
        email=None,
        preferred_time={"text": when, "label": when, "start": None, "end": None},
        concern=concern,
        consent=True,
        channel="socketio",
        conversation_id=conversation,
        created_at=datetime(2026, 11, 29, tzinfo=timezone.utc).isoformat(),
        status="new",
    )


@settings(max_examples=200, deadline=None)
@given(cleaned(), cleaned(), cleaned(), ANY_TEXT)
@pytest.mark.slow
def test_any_stored_text_exports_to_csv_safely(name, concern, when, raw):
    """Even a value stored raw (before every channel cleaned) cannot break
    the export or start a formula in a spreadsheet."""
    rows = [booking(name, concern, when, "c1"), booking(raw, raw, raw, raw)]
    exported = export_csv(rows)
    parsed = list(csv.reader(io.StringIO(exported)))
    assert parsed[0] == list(CSV_FIELDS) and len(parsed) == 3
    for row in parsed[1:]:
        for cell in row:
            assert not cell or cell[0] not in "=+-@\t\r"
            assert "\x00" not in cell


@settings(max_examples=200, deadline=None)
@given(cleaned(), cleaned(), cleaned())
@pytest.mark.slow
def test_the_clinic_email_has_no_injected_headers(name, concern, when):
    subject, body = booking_email(booking(name, concern, when, "c1"))
    message = EmailMessage()
    message["From"] = "assistant@clinic.example"
    message["To"] = "reception@clinic.example"
    message["Subject"] = subject.replace("\n", " ").replace("\r", " ")
    message.set_content(body)
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert sorted(k.lower() for k in parsed.keys()) == sorted(
        ["from", "to", "subject", "content-type", "content-transfer-encoding",
         "mime-version"]
    )  # fmt: skip
    assert parsed["To"] == "reception@clinic.example"


@settings(max_examples=200, deadline=None)
@given(cleaned(), cleaned())
@pytest.mark.slow
def test_stored_values_round_trip_through_json(name, concern):
    data = booking(name, concern, "any time", "c1").as_dict()
    assert json.loads(json.dumps(data)) == data
