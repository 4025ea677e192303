"""Staff accounts: argon2 password hashes, server-side sessions with a CSRF
token each, a lock after repeated failed logins, and an audit log.

Sessions live in the database (only a hash of the cookie's token is kept),
so every instance of the console accepts them and logout ends them at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from bot import migrations
from bot.booking.store import as_utc

LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
SESSION_HOURS = 12
MIN_PASSWORD = 12
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

metadata = MetaData()
staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("first_name", String(100), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ForeignKey("staff_accounts.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("who", String(254), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
)


class AccountError(ValueError):
    """Said to the person at the console or the command line as it is."""


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    first_name: str


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    account: Account


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    who: str
    action: str
    target: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Staff accounts in the clinic's database (``DATABASE_URL``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = migrations.OnFirstUse(url)
        self._hasher = PasswordHasher()
        # Checked against when the email is unknown, so a wrong email takes
        # as long as a wrong password.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    @property
    def engine(self) -> Engine:
        return self._engine()

    def add(self, email: str, password: str, first_name: str) -> Account:
        email = email.strip().lower()
        if len(email) > 254 or not EMAIL.match(email):
            raise AccountError(f"{email!r} is not an email address")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
        first_name = first_name.strip()[:100] or email.split("@")[0]
        with self.engine.begin() as conn:
            if conn.execute(
                select(staff_accounts.c.id).where(staff_accounts.c.email == email)
            ).first():
                raise AccountError(f"{email} already has an account")
            new_id = conn.execute(
                insert(staff_accounts).values(
                    email=email,
                    first_name=first_name,
                    password_hash=self._hasher.hash(password),
                    failed_logins=0,
                    created_at=datetime.now(timezone.utc),
                )
            ).inserted_primary_key[0]
        return Account(new_id, email, first_name)

    def login(
        self, email: str, password: str, now: datetime | None = None
    ) -> Session | None:
        """A new session, or None for a wrong email or password. A locked
        account raises, so the person learns to wait or call a colleague."""
        now = now or datetime.now(timezone.utc)
        email = email.strip().lower()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(staff_accounts).where(staff_accounts.c.email == email)
            ).first()
            if row is None:
                self._verify(self._decoy, password)
                self._audit(conn, email[:254], "login failed", "", now)
                return None
            locked_until = as_utc(row.locked_until)
            if locked_until and locked_until > now:
                self._audit(conn, email, "login refused (locked)", "", now)
                raise AccountError(
                    f"the account is locked after {LOCK_AFTER_FAILURES} wrong "
                    f"passwords; try again after {LOCK_MINUTES} minutes"
                )
            if not self._verify(row.password_hash, password):
                failures = row.failed_logins + 1
                values = {"failed_logins": failures}
                if failures >= LOCK_AFTER_FAILURES:
                    values = {
                        "failed_logins": 0,
                        "locked_until": now + timedelta(minutes=LOCK_MINUTES),
                    }
                conn.execute(
                    update(staff_accounts)
                    .where(staff_accounts.c.id == row.id)
                    .values(**values)
                )
                self._audit(conn, email, "login failed", "", now)
                return None
            conn.execute(
                update(staff_accounts)
                .where(staff_accounts.c.id == row.id)
                .values(failed_logins=0, locked_until=None)
            )
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
            conn.execute(
                insert(staff_sessions).values(
                    token_hash=_hash_token(token),
                    account_id=row.id,
                    csrf=csrf,
                    expires_at=now + timedelta(hours=SESSION_HOURS),
                )
            )
            self._audit(conn, email, "logged in", "", now)
        return Session(token, csrf, Account(row.id, row.email, row.first_name))

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def session(self, token: str, now: datetime | None = None) -> Session | None:
        now = now or datetime.now(timezone.utc)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(staff_sessions, staff_accounts)
                .join(staff_accounts)
                .where(staff_sessions.c.token_hash == _hash_token(token or ""))
            ).first()
        if row is None or as_utc(row.expires_at) <= now:
            return None
        return Session(token, row.csrf, Account(row.id, row.email, row.first_name))

    def logout(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(staff_sessions).where(
                    staff_sessions.c.token_hash == _hash_token(token)
                )
            )

    def audit(
        self, who: str, action: str, target: str = "", now: datetime | None = None
    ) -> None:
        with self.engine.begin() as conn:
            self._audit(conn, who, action, target, now or datetime.now(timezone.utc))

    @staticmethod
    def _audit(conn, who: str, action: str, target: str, now: datetime) -> None:
        conn.execute(
            insert(audit_log).values(
                at=now, who=who[:254], action=action[:64], target=target[:200]
            )
        )

    def audit_log(self, limit: int = 500) -> list[AuditEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
            ).all()
        return [AuditEntry(as_utc(r.at), r.who, r.action, r.target) for r in rows]
