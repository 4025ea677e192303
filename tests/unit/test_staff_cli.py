"""Reception's command line against a real SQLite database."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot import PROJECT_ROOT
from bot.booking.records import BookingRequest
from bot.booking.store import BookingStore


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    store = BookingStore(url)
    tz = ZoneInfo("Australia/Brisbane")
    for i, name in enumerate(["Priya", "=cmd|' /C calc'!A0"]):
        store.submit(
            BookingRequest(
                first_name=name,
                phone="+61412345678",
                conversation_id=f"conv-{i}",
                preferred_start=datetime(2026, 11, 25, 12, tzinfo=tz),
                preferred_end=datetime(2026, 11, 25, 17, tzinfo=tz),
                preferred_label="Wed 25 Nov, afternoon",
                concern="neck",
                consent=True,
                channel="rest",
            )
        )
    return url


def bot(database, *args):
    env = {**os.environ, "DATABASE_URL": database}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip


def test_list_json_has_the_agreed_fields(database):
    result = bot(database, "bookings", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 2
    for field in (
        "reference",
        "name",
        "phone",
        "email",
        "preferred_time",
        "concern",
        "consent",
        "channel",
        "conversation_id",
        "created_at",
        "status",
    ):
        assert field in rows[0]  # fmt: skip
    assert rows[0]["preferred_time"]["start"] == "2026-11-25T02:00:00+00:00"
    assert rows[0]["preferred_time"]["end"] == "2026-11-25T07:00:00+00:00"


@pytest.mark.slow
def test_mark_show_and_filter(database):
    ref = json.loads(bot(database, "bookings", "list", "--json").stdout)[0]["reference"]
    assert bot(database, "bookings", "mark", ref, "contacted").returncode == 0
    shown = json.loads(bot(database, "bookings", "show", ref).stdout)
    assert shown["status"] == "contacted"
    new = json.loads(
        bot(database, "bookings", "list", "--json", "--status", "new").stdout
    )
    assert [r["reference"] for r in new] != [ref] and len(new) == 1
    assert bot(database, "bookings", "show", "DN-NONE").returncode == 1
    assert bot(database, "bookings", "mark", ref, "deleted").returncode == 2


def test_export_csv_is_safe_for_spreadsheets(database):
    result = bot(database, "bookings", "export", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["name"] for r in rows} == {"Priya", "'=cmd|' /C calc'!A0"}
