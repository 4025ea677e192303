"""Rasa's SQL tracker store, faster and with connections checked before use.

Configured in ``endpoints.yml`` as ``type: bot.rasa.tracker_store.SQLTrackerStore``
with Rasa's own SQL options (bot/rasa/endpoints.py), so Rasa's extension point,
not a patch, brings it in. It overrides two private methods of Rasa's store
(``_retrieve``, ``_additional_events``), so it refuses to be built on another
Rasa than the one it was written against (``bot.rasa.version.check_version``).
Against Rasa 3.6's store (the profile behind each is in docs/production.md,
"Profiling and speed-ups"; tests/unit/test_speedups.py checks the results):

- Rasa counts the stored events of the conversation (a second query with a
  subquery) before each save, to know which are new: 7 % of the server's
  CPU per message. It already read exactly those rows when it loaded the
  tracker, under the conversation's lock, so the number read then is used.
- It built ORM objects for every event read and written (10 %): the latest
  session is read as the ``data`` column only, new events are written in one
  multi-row insert, and, when the database holds exactly what this process
  saved, the latest session comes from memory;
- SQLite commits each message with a full fsync of the rollback journal (6 %
  in ``do_commit`` alone). Write-ahead logging with ``synchronous=NORMAL``
  keeps every committed message across a crash of the server and lets
  readers work while one instance writes;
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
import json
import weakref
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from rasa.core import tracker_store as rasa_tracker_store
from rasa.shared.core.events import SlotSet
from sqlalchemy.orm import sessionmaker

from bot.rasa.trackers import STORED_EVENTS
from bot.rasa.version import check_version

FORGET_SLOT = "forget_me"
# Enough for every conversation in progress at 50 users and more; each kept
# tracker costs tens of KB, and at 1000 they held 60-70 MB of a Rasa process
# under the benchmark's load.
TRACKERS_KEPT = 256
# (id of the store, sender id) -> (the store, weakly; tracker; domain; newest
# row). The weak reference tells a store from a later one given the same id.
_trackers: OrderedDict[tuple[int, str], tuple] = OrderedDict()


class SQLTrackerStore(rasa_tracker_store.SQLTrackerStore):
    def __init__(self, *args, **kwargs) -> None:
        check_version()
        super().__init__(*args, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url,
            pool_pre_ping=True,
            **rasa_tracker_store.create_engine_kwargs(url),
        )
        if url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", sqlite_wal)
        self.sessionmaker = sessionmaker(bind=self.engine)

    async def _retrieve(self, sender_id, fetch_events_from_all_sessions):
        """Rasa's ``_retrieve`` reading only the ``data`` column (no ORM
        objects), noting how many rows it read; the latest session comes from
        memory when the database holds just what this process saved."""
        from rasa.shared.core.trackers import DialogueStateTracker

        with self.session_scope() as session:
            if not fetch_events_from_all_sessions:
                kept = _kept_tracker(self, session, sender_id)
                if kept is not None:
                    return kept
            rows = (
                self._event_query(
                    session,
                    sender_id,
                    fetch_events_from_all_sessions=fetch_events_from_all_sessions,
                )
                .with_entities(self.SQLEvent.data)
                .all()
            )
            events = [json.loads(data) for (data,) in rows]
            if not (self.domain and events):
                return None
            tracker = DialogueStateTracker.from_dict(
                sender_id, events, self.domain.slots
            )
            if not fetch_events_from_all_sessions:
                setattr(tracker, STORED_EVENTS, len(rows))
            return tracker

    def _additional_events(self, session, tracker):
        """The events after the ones already stored; Rasa's count query only
        for a tracker this store neither loaded nor saved."""
        stored = stored_events(tracker)
        if stored is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def save(self, tracker) -> None:
        """Rasa's ``save`` as one multi-row insert instead of the ORM's unit
        of work; afterwards the tracker knows all its events are stored."""
        if forgotten(tracker):
            self.forget(tracker.sender_id)
            return
        total = len(tracker.events)
        await self.stream_events(tracker)
        with self.session_scope() as session:
            rows = [
                _event_row(tracker.sender_id, event)
                for event in self._additional_events(session, tracker)
            ]
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
            setattr(tracker, STORED_EVENTS, total)
            _keep_tracker(self, session, tracker)

    def forget(self, sender_id: str) -> None:
        with self.session_scope() as session:
            session.execute(
                sa.delete(self.SQLEvent.__table__).where(
                    self.SQLEvent.__table__.c.sender_id == sender_id
                )
            )
            session.commit()
        _trackers.pop((id(self), sender_id), None)


def forgotten(tracker) -> bool:
    """This turn's new events include the patient being forgotten."""
    new = itertools.islice(tracker.events, stored_events(tracker) or 0, None)
    return any(
        isinstance(e, SlotSet) and e.key == FORGET_SLOT and e.value is True for e in new
    )


def sqlite_wal(dbapi_connection, _record) -> None:
    """SQLAlchemy ``connect`` listener for the tracker store's engine."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def stored_events(tracker) -> int | None:
    """How many of the tracker's events the store holds, when it knows."""
    return getattr(tracker, STORED_EVENTS, None)


def _event_row(sender_id: str, event) -> dict[str, Any]:
    """The columns Rasa's ``SQLTrackerStore.save`` writes for one event."""
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {})
        .get("intent", {})
        .get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def _newest_row(store, session, sender_id: str) -> tuple | None:
    """Id and timestamp of the conversation's newest stored event: a write
    by anyone else, a deletion or a rewrite of that row changes them."""
    event_ = store.SQLEvent
    return (
        session.query(event_.id, event_.timestamp)
        .filter(event_.sender_id == sender_id)
        .order_by(event_.id.desc())
        .limit(1)
        .one_or_none()
    )


def _kept_tracker(store, session, sender_id: str):
    """The tracker this store saved last for ``sender_id``, if the database
    holds exactly what it saved: no other instance wrote since, nothing was
    deleted, and no event of it is unsaved (a message that failed half way)."""
    key = (id(store), sender_id)
    kept = _trackers.get(key)
    if kept is None:
        return None
    owner, tracker, domain, last_id = kept
    if (
        owner() is not store
        or domain is not store.domain
        or getattr(tracker, STORED_EVENTS, None) != len(tracker.events)
        or _newest_row(store, session, sender_id) != last_id
    ):
        _trackers.pop(key, None)
        return None
    _trackers.move_to_end(key)
    return tracker


def _keep_tracker(store, session, tracker) -> None:
    """Remember a saved tracker; one that holds a new session's start is
    dropped instead, since a load gives only the latest session."""
    from rasa.shared.core.events import SessionStarted

    key = (id(store), tracker.sender_id)
    if any(
        isinstance(e, SessionStarted) for e in itertools.islice(tracker.events, 1, None)
    ):
        _trackers.pop(key, None)
        return
    _trackers[key] = (
        weakref.ref(store),
        tracker,
        store.domain,
        _newest_row(store, session, tracker.sender_id),
    )
    _trackers.move_to_end(key)
    while len(_trackers) > TRACKERS_KEPT:
        _trackers.popitem(last=False)
