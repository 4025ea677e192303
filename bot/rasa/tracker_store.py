"""Rasa's SQL tracker store, faster and with connections checked before use.

Configured in ``endpoints.yml`` as ``type: bot.rasa.tracker_store.SQLTrackerStore``
with Rasa's own SQL options (bot/rasa/endpoints.py), so Rasa's extension point,
not a patch, brings it in. Against Rasa 3.6's store (see bot/rasa/speedups.py
for the profile behind each, tests/unit/test_speedups.py for the same results):

- the latest session is read as the ``data`` column only (no ORM objects)
  and, when the database holds exactly what this process saved, from memory;
- new events are found from the count read at load, not a second query, and
  written in one multi-row insert;
- SQLite runs in WAL mode with ``synchronous=NORMAL``;
- pooled connections are tested when taken (``pool_pre_ping``): after
  PostgreSQL restarts (``bot cluster`` restarts a killed one) every pooled
  connection is dead, and Rasa's engine would fail one message on each.

And a turn in which ``action_forget_me`` forgot the patient (it sets the
``forget_me`` slot once the bookings database has) is not saved: the whole
conversation is deleted instead, so nothing of it stays, not even the
request to forget it.
"""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from rasa.core import tracker_store as rasa_tracker_store
from rasa.shared.core.events import SlotSet
from sqlalchemy.orm import sessionmaker

from bot.rasa import speedups

FORGET_SLOT = "forget_me"


class SQLTrackerStore(rasa_tracker_store.SQLTrackerStore):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url,
            pool_pre_ping=True,
            **rasa_tracker_store.create_engine_kwargs(url),
        )
        if url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", speedups.sqlite_wal)
        self.sessionmaker = sessionmaker(bind=self.engine)

    async def _retrieve(self, sender_id, fetch_events_from_all_sessions):
        return await speedups.sql_retrieve(
            self, sender_id, fetch_events_from_all_sessions
        )

    def _additional_events(self, session, tracker):
        """The events after the ones already stored; Rasa's count query only
        for a tracker this store neither loaded nor saved."""
        stored = speedups.stored_events(tracker)
        if stored is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def save(self, tracker) -> None:
        if forgotten(tracker):
            self.forget(tracker.sender_id)
            return
        await speedups.sql_save(self, tracker)

    def forget(self, sender_id: str) -> None:
        with self.session_scope() as session:
            session.execute(
                sa.delete(self.SQLEvent.__table__).where(
                    self.SQLEvent.__table__.c.sender_id == sender_id
                )
            )
            session.commit()
        speedups.drop_kept(self, sender_id)


def forgotten(tracker) -> bool:
    """This turn's new events include the patient being forgotten."""
    new = itertools.islice(tracker.events, speedups.stored_events(tracker) or 0, None)
    return any(
        isinstance(e, SlotSet) and e.key == FORGET_SLOT and e.value is True for e in new
    )
