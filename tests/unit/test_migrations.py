"""The bookings database's migrations: from nothing, from the schema the
project made before migrations (create_all, no version table) with its
bookings kept, and the result always what the code's tables describe."""

from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, inspect, text

from bot import migrations
from bot.booking.records import BookingRequest
from bot.booking.store import BookingStore
from bot.booking.tables import Base
from bot.channels.replays import metadata as replay_tables
from bot.console.accounts import metadata as console_tables
from bot.handoff.queue import metadata as handoff_tables


def the_code_tables() -> MetaData:
    combined = MetaData()
    for source in (Base.metadata, replay_tables, console_tables, handoff_tables):
        for table in source.tables.values():
            table.to_metadata(combined)
    return combined


def differences(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        found = compare_metadata(context, the_code_tables())
    # SQLite's own bookkeeping for AUTOINCREMENT keys, not a table of ours.
    return [
        d
        for d in found
        if not (d[0] == "remove_table" and d[1].name == "sqlite_sequence")
    ]


def test_an_empty_database_gets_the_newest_schema(any_database):
    engine = create_engine(any_database, future=True)
    try:
        assert migrations.upgrade(engine) == migrations.head()
        assert differences(engine) == []
        # Running again changes nothing.
        assert migrations.upgrade(engine) == migrations.head()
    finally:
        engine.dispose()


def test_a_database_made_before_migrations_keeps_its_bookings(any_database):
    engine = create_engine(any_database, future=True)
    try:
        # The schema create_all made, as the first revision has it, without
        # Alembic's version table and without the replay table.
        with engine.begin() as conn:
            command.upgrade(migrations.config(conn), migrations.FIRST)
            conn.execute(text("DROP TABLE alembic_version"))
            conn.execute(text("DROP TABLE inbound_messages"))
            conn.execute(
                text(
                    "INSERT INTO booking_requests (reference, kind, first_name, "
                    "phone, consent, conversation_id, dedupe_key, status, "
                    "created_at) VALUES ('DN-OLD1', 'assessment', 'Ana', "
                    "'+61400000000', true, 'rest:old', 'k-old', 'new', :at)"
                ),
                {"at": datetime(2026, 1, 5, tzinfo=timezone.utc)},
            )
        assert migrations.upgrade(engine) == migrations.head()
        assert differences(engine) == []
    finally:
        engine.dispose()
    store = BookingStore(any_database, ("email",))
    try:
        assert [b.reference for b in store.list()] == ["DN-OLD1"]
        store.submit(
            BookingRequest(first_name="Bo", phone="+61400000001", conversation_id="c")
        )
        assert len(store.list()) == 2
    finally:
        store.engine.dispose()


def test_the_store_migrates_on_first_use(any_database):
    store = BookingStore(any_database, ("email",))
    try:
        store.submit(
            BookingRequest(first_name="Cy", phone="+61400000002", conversation_id="d")
        )
        tables = set(inspect(store.engine).get_table_names())
        assert {"alembic_version", "booking_requests", "notifications"} <= tables
    finally:
        store.engine.dispose()


def test_make_run_migrates_first_and_says_so(tmp_path, monkeypatch, capsys):
    from bot.ops.localhost import free_port
    from bot.ops.serve import migrate
    from bot.settings import load_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'clinic.db'}")
    assert migrate(load_settings()) == 0
    assert f"schema {migrations.head()}" in capsys.readouterr().out
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql://nobody:secret@127.0.0.1:{free_port()}/x"
    )
    assert migrate(load_settings()) == 1
    said = capsys.readouterr().out
    assert "Could not bring" in said and "secret" not in said


def test_a_deleted_handoffs_id_is_never_given_to_another_patient(any_database):
    """A chat's URL and the audit entries naming it must not come to point
    at someone else after a privacy deletion."""
    from bot.handoff.queue import HandoffQueue

    queue = HandoffQueue(any_database)
    first = queue.request("web:first-patient", "socketio", "k1")
    assert queue.forget(["web:first-patient"]) == 1
    second = queue.request("web:second-patient", "socketio", "k2")
    assert second.id > first.id
