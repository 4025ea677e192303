"""The live handoff queue: conversations waiting for a person at reception,
the one a staff member has taken, and how each ended.

The action server puts a conversation here when a patient asks for a person
during opening hours; the console lists what waits, a staff member takes
one (only one can), and hands it back. One that waits longer than
``HANDOFF_WAIT_SECONDS`` is claimed by the console's timer, once across all
instances, and the patient is offered a callback. The rows are also what
"what patients ask" counts as answered and missed handoffs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot import migrations
from bot.db import as_utc, utcnow

WAITING, ACTIVE, RETURNED, MISSED = "waiting", "active", "returned", "missed"
OPEN = (WAITING, ACTIVE)
# Each handoff emails staff: a conversation or a client address asking
# more often than this in LIMIT_WINDOW is told to call instead
# (HANDOFF_PER_CONVERSATION, HANDOFF_PER_ADDRESS).
PER_CONVERSATION = 3
PER_CLIENT = 10
LIMIT_WINDOW = timedelta(hours=1)

metadata = MetaData()
handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", String(255), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("staff_email", String(254)),
    Column("staff_name", String(100)),
    Column("taken_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("client", String(16), index=True),
    sqlite_autoincrement=True,
)


class HandoffError(ValueError):
    """Said to the staff member as it is ("already taken by Anna")."""


@dataclass(frozen=True)
class Handoff:
    id: int
    conversation_id: str
    channel: str
    status: str
    requested_at: datetime
    staff_email: str | None
    staff_name: str | None
    taken_at: datetime | None
    ended_at: datetime | None
    dedupe_key: str = ""

    @classmethod
    def from_row(cls, row) -> Handoff:
        return cls(
            id=row.id,
            conversation_id=row.conversation_id,
            channel=row.channel,
            status=row.status,
            requested_at=as_utc(row.requested_at),
            staff_email=row.staff_email,
            staff_name=row.staff_name,
            taken_at=as_utc(row.taken_at),
            ended_at=as_utc(row.ended_at),
            dedupe_key=row.dedupe_key,
        )

    def waited(self, now: datetime | None = None) -> timedelta:
        """How long the patient waited (so far) for a person."""
        return (self.taken_at or self.ended_at or now or utcnow()) - self.requested_at


@dataclass(frozen=True)
class Asked:
    """What asking for a person came to: ``handoff`` is None when the limit
    refused it; ``new`` says staff should be told (this request, or a retry
    of it, made the handoff)."""

    handoff: Handoff | None
    new: bool


class HandoffQueue:
    """Reads and writes of the queue; connects on first use."""

    def __init__(
        self,
        url: str,
        per_conversation: int = PER_CONVERSATION,
        per_client: int = PER_CLIENT,
    ) -> None:
        self.url = url
        self.per_conversation, self.per_client = per_conversation, per_client
        self._engine = migrations.OnFirstUse(url)

    @property
    def engine(self) -> Engine:
        return self._engine()

    def request(
        self,
        conversation_id: str,
        channel: str,
        dedupe_key: str,
        now: datetime | None = None,
        client: str | None = None,
    ) -> Handoff:
        """Queue the conversation; the open handoff it already has, if any
        (asking twice is one request), or the one made by the same call."""
        with self.engine.begin() as conn:
            found = self._open_for(conn, conversation_id)
            if found is not None:
                return found
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(handoffs).values(
                            conversation_id=conversation_id,
                            channel=channel[:32],
                            status=WAITING,
                            requested_at=now or utcnow(),
                            dedupe_key=dedupe_key[:200],
                            client=client,
                        )
                    )
            except IntegrityError:
                pass
            row = conn.execute(
                select(handoffs).where(handoffs.c.dedupe_key == dedupe_key[:200])
            ).first()
            return Handoff.from_row(row)

    @staticmethod
    def _open_for(conn, conversation_id: str) -> Handoff | None:
        row = conn.execute(
            select(handoffs)
            .where(handoffs.c.conversation_id == conversation_id)
            .where(handoffs.c.status.in_(OPEN))
            .order_by(handoffs.c.id.desc())
        ).first()
        return Handoff.from_row(row) if row else None

    def ask(
        self,
        conversation_id: str,
        channel: str,
        dedupe_key: str,
        client: str | None = None,
        now: datetime | None = None,
    ) -> Asked:
        """``request`` behind the limits; asking again while waiting is the
        same request and tells staff nothing new."""
        now = now or utcnow()
        waiting = self.open_for(conversation_id)
        if waiting is not None:
            return Asked(waiting, new=waiting.dedupe_key == dedupe_key[:200])
        by_conversation, by_client = self.asked_since(
            now - LIMIT_WINDOW, conversation_id, client
        )
        if by_conversation >= self.per_conversation or by_client >= self.per_client:
            return Asked(None, new=False)
        handoff = self.request(conversation_id, channel, dedupe_key, now, client)
        return Asked(handoff, new=handoff.dedupe_key == dedupe_key[:200])

    def asked_since(
        self, since: datetime, conversation_id: str, client: str | None
    ) -> tuple[int, int]:
        """How many handoffs were asked for since ``since``, by this
        conversation and by this client (0 for no client)."""
        with self.engine.connect() as conn:
            by_conversation = conn.execute(
                select(func.count())
                .select_from(handoffs)
                .where(handoffs.c.requested_at >= since)
                .where(handoffs.c.conversation_id == conversation_id)
            ).scalar_one()
            by_client = 0
            if client:
                by_client = conn.execute(
                    select(func.count())
                    .select_from(handoffs)
                    .where(handoffs.c.requested_at >= since)
                    .where(handoffs.c.client == client)
                ).scalar_one()
        return by_conversation, by_client

    def open_for(self, conversation_id: str) -> Handoff | None:
        with self.engine.connect() as conn:
            return self._open_for(conn, conversation_id)

    def get(self, handoff_id: int) -> Handoff:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(handoffs).where(handoffs.c.id == handoff_id)
            ).first()
        if row is None:
            raise KeyError(f"no handoff {handoff_id}")
        return Handoff.from_row(row)

    def open(self) -> list[Handoff]:
        """Waiting and taken conversations, longest waiting first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(handoffs)
                .where(handoffs.c.status.in_(OPEN))
                .order_by(handoffs.c.requested_at, handoffs.c.id)
            ).all()
        return [Handoff.from_row(r) for r in rows]

    def since(self, start: datetime) -> list[Handoff]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(handoffs)
                .where(handoffs.c.requested_at >= start)
                .order_by(handoffs.c.id)
            ).all()
        return [Handoff.from_row(r) for r in rows]

    def take(
        self, handoff_id: int, email: str, name: str, now: datetime | None = None
    ) -> Handoff:
        """The waiting conversation is this staff member's; only one of two
        clicking at once gets it."""
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff_id)
                .where(handoffs.c.status == WAITING)
                .values(
                    status=ACTIVE,
                    staff_email=email,
                    staff_name=name,
                    taken_at=now or utcnow(),
                )
            ).rowcount
        handoff = self.get(handoff_id)
        if not taken:
            if handoff.status == ACTIVE:
                raise HandoffError(f"already taken by {handoff.staff_name}")
            raise HandoffError(f"this conversation is {handoff.status}")
        return handoff

    def hand_back(self, handoff_id: int, now: datetime | None = None) -> Handoff:
        """Back to the assistant, from waiting or taken."""
        with self.engine.begin() as conn:
            ended = conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff_id)
                .where(handoffs.c.status.in_(OPEN))
                .values(status=RETURNED, ended_at=now or utcnow())
            ).rowcount
        handoff = self.get(handoff_id)
        if not ended:
            raise HandoffError(f"this conversation is already {handoff.status}")
        return handoff

    def claim_overdue(
        self, wait: timedelta, now: datetime | None = None
    ) -> list[Handoff]:
        """Waiting ones older than ``wait``, now missed; each is claimed by
        exactly one caller, whichever instance's timer gets there first."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            due = conn.execute(
                select(handoffs.c.id)
                .where(handoffs.c.status == WAITING)
                .where(handoffs.c.requested_at <= now - wait)
            ).all()
        claimed = []
        for (handoff_id,) in due:
            with self.engine.begin() as conn:
                won = conn.execute(
                    update(handoffs)
                    .where(handoffs.c.id == handoff_id)
                    .where(handoffs.c.status == WAITING)
                    .values(status=MISSED, ended_at=now)
                ).rowcount
            if won:
                claimed.append(self.get(handoff_id))
        return claimed

    def unclaim(self, handoff_id: int) -> None:
        """A missed one whose patient could not be told goes back to waiting,
        so the next tick tries again."""
        with self.engine.begin() as conn:
            conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff_id)
                .where(handoffs.c.status == MISSED)
                .values(status=WAITING, ended_at=None)
            )

    def forget(self, conversation_ids: list[str]) -> int:
        """Delete the handoffs of these conversations (privacy requests,
        retention)."""
        if not conversation_ids:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(
                delete(handoffs).where(
                    or_(*(handoffs.c.conversation_id == c for c in conversation_ids))
                )
            ).rowcount
