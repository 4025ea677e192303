"""Staff accounts: argon2 password hashes, server-side sessions with a CSRF
token each, login throttling with trusted browsers, and an audit log.

Sessions live in the database (only a hash of the cookie's token is kept),
so every instance of the console accepts them and logout ends them at once.

Logins are throttled without letting a stranger lock staff out (docs/
security.md, "Staff login"). A login from a browser not trusted for the
account counts, before its password is checked, against its client address
and against the email typed, known or not, so no answer tells which emails
are accounts. Past a few free failures each of the two waits, longer after
every further failure (30 s, doubling to 15 minutes), until a day passes
without one. A browser that has logged in to the account before, or was let
in with an unlock link (emailed to the account when the waiting starts, or
printed by ``python -m bot staff unlock``), is counted apart: it has a few
wrong passwords of its own before it is trusted no more.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Callable, Iterable
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
    case,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from bot import migrations
from bot.db import as_utc

# Failures from one client address, and for one email, before each waits.
ADDRESS_FREE_FAILURES = 10
ACCOUNT_FREE_FAILURES = 5
# Wrong passwords a trusted browser may type before it is trusted no more.
TRUSTED_BROWSER_FAILURES = 5
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=15)
# A count with no failure for this long starts again from nothing.
FORGET_FAILURES_AFTER = timedelta(hours=24)
TRUSTED_BROWSER_DAYS = 90
UNLOCK_LINK_HOURS = 24
# Trusted-browser tokens one browser keeps (staff sharing a reception PC).
TOKENS_PER_BROWSER = 8
SESSION_HOURS = 12
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_EMAIL = 254
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

metadata = MetaData()
staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("first_name", String(100), nullable=False),
    Column("password_hash", String(200), nullable=False),
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
# Failed logins per "address:<client address>" and per "account:<SHA-256 of
# the email typed>", whether or not the email is an account.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime(timezone=True), nullable=False, index=True),
    Column("waits_until", DateTime(timezone=True)),
)
# Browsers trusted for an account: its ``staff_device`` cookie's tokens
# (hashed), and the unlock links' one-time tokens.
trusted_browsers = Table(
    "trusted_browsers",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ForeignKey("staff_accounts.id"), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


class AccountError(ValueError):
    """Said to the person at the console or the command line as it is."""


class Throttled(AccountError):
    """Too many failed logins from this address or for this email. Said the
    same for an email that is no account, with the same wait."""

    def __init__(self, scope: str, wait: timedelta) -> None:
        self.scope = scope
        self.retry_after = max(1, math.ceil(wait.total_seconds()))
        when = _in_words(self.retry_after)
        if scope == "address":
            text = f"Too many failed logins from your network. Try again in {when}."
        else:
            text = (
                f"Too many failed logins for this email. Try again in {when}. "
                "If it is your console account, the link sent to it lets "
                "this browser in at once; or ask the clinic's administrator."
            )
        super().__init__(text)


def _in_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


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
    # After a login: the trusted-browser tokens the browser keeps.
    trusted: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    who: str
    action: str
    target: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _address_key(address: str) -> str:
    return f"address:{address}"[:80]


def _account_key(email: str) -> str:
    return "account:" + hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()


def _wait(failures: int, free: int) -> timedelta:
    """How long a key waits after its ``failures``-th failure."""
    if failures < free:
        return timedelta(0)
    return min(FIRST_WAIT * 2 ** min(failures - free, 20), LONGEST_WAIT)


def unlock_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/staff/unlock/{token}"


def _trust(conn: Connection, account_id: int, now: datetime, hours: int) -> str:
    """A new token that trusts a browser for the account for ``hours``."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(trusted_browsers).values(
            token_hash=_hash_token(token),
            account_id=account_id,
            failures=0,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return token


def _insert_new(conn: Connection, table: Table, **values) -> bool:
    """Insert a row unless its key is there already (another login made it
    a moment ago); whether it was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    return bool(conn.execute(statement).rowcount)


# Told of a known account's first wait: the account and an unlock token.
OnThrottled = Callable[[Account, str], None]


class Accounts:
    """Staff accounts in the clinic's database (``DATABASE_URL``)."""

    def __init__(self, url: str, on_throttled: OnThrottled | None = None) -> None:
        self.url = url
        self.on_throttled = on_throttled
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
        if len(email) > MAX_EMAIL or not EMAIL.match(email):
            raise AccountError(f"{email!r} is not an email address")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
        if len(password) > MAX_PASSWORD:
            raise AccountError(
                f"the password may have at most {MAX_PASSWORD} characters"
            )
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
                    created_at=datetime.now(timezone.utc),
                )
            ).inserted_primary_key[0]
        return Account(new_id, email, first_name)

    def login(
        self,
        email: str,
        password: str,
        address: str = "",
        trusted: Iterable[str] = (),
        now: datetime | None = None,
    ) -> Session | None:
        """A new session, or None for a wrong email or password, from a
        client at ``address`` whose browser holds the ``trusted`` tokens.

        Raises Throttled while the address waits (nothing about the email is
        looked at then) or, for a browser not trusted for the account, while
        the email waits: the password is still checked then, against a decoy
        for an unknown email, so every answer about an email takes as long.
        """
        now = now or datetime.now(timezone.utc)
        email = email.strip().lower()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(staff_accounts).where(staff_accounts.c.email == email)
            ).first()
            held = self._trusted_tokens(conn, trusted, now)
            browser = next(
                (t for t, owner in held.items() if row and owner == row.id), None
            )
            address_wait = email_wait = None
            email_failures = 0
            if browser is None:
                address_wait, _ = self._count(
                    conn, _address_key(address), ADDRESS_FREE_FAILURES, now
                )
            if browser is None and address_wait is None:
                email_wait, email_failures = self._count(
                    conn, _account_key(email), ACCOUNT_FREE_FAILURES, now
                )
        if address_wait is not None:
            # Nothing about the email decides this answer: no hash, no write.
            raise Throttled("address", address_wait)
        right = self._verify(row.password_hash if row else self._decoy, password)
        if email_wait is not None:
            self.audit(email, "login refused (email)", address, now)
            raise Throttled("account", email_wait)
        if right:
            return self._logged_in(row, address, browser, held, now)
        self._failed(row, email, address, browser, email_failures, now)
        return None

    def _count(
        self, conn: Connection, key: str, free: int, now: datetime
    ) -> tuple[timedelta | None, int]:
        """Count a failure for ``key`` before the password is checked (a
        right one takes it back), so logins sent together cannot all slip
        through; unless the key waits: then how long. One UPDATE admits and
        counts, so two instances of the console cannot both admit."""
        t = login_throttle
        fresh = now - FORGET_FAILURES_AFTER
        for _ in range(3):
            counted = conn.execute(
                update(t)
                .where(
                    t.c.key == key,
                    or_(t.c.waits_until.is_(None), t.c.waits_until <= now),
                )
                .values(
                    failures=case(
                        (t.c.last_failure_at < fresh, 1), else_=t.c.failures + 1
                    ),
                    last_failure_at=now,
                )
            ).rowcount
            if not counted:
                found = conn.execute(
                    select(t.c.waits_until).where(t.c.key == key)
                ).first()
                waits_until = as_utc(found.waits_until) if found else None
                if waits_until and waits_until > now:
                    return waits_until - now, 0
                if found is None:
                    counted = _insert_new(
                        conn, t, key=key, failures=1, last_failure_at=now
                    )
            if counted:
                break
        failures = conn.execute(select(t.c.failures).where(t.c.key == key)).scalar_one()
        if failures >= free:
            conn.execute(
                update(t)
                .where(t.c.key == key)
                .values(waits_until=now + _wait(failures, free))
            )
        return None, failures

    def _trusted_tokens(
        self, conn: Connection, tokens: Iterable[str], now: datetime
    ) -> dict[str, int]:
        """The browser's tokens that still trust an account, and its id."""
        by_hash = {_hash_token(t): t for t in list(tokens)[:TOKENS_PER_BROWSER] if t}
        if not by_hash:
            return {}
        rows = conn.execute(
            select(trusted_browsers.c.token_hash, trusted_browsers.c.account_id).where(
                trusted_browsers.c.token_hash.in_(list(by_hash)),
                trusted_browsers.c.expires_at > now,
            )
        ).all()
        return {by_hash[r.token_hash]: r.account_id for r in rows}

    def _logged_in(
        self,
        row,
        address: str,
        browser: str | None,
        held: dict[str, int],
        now: datetime,
    ) -> Session:
        """A session; the counts this login was checked against start again."""
        with self.engine.begin() as conn:
            if browser is None:
                conn.execute(
                    delete(login_throttle).where(
                        login_throttle.c.key.in_(
                            [_address_key(address), _account_key(row.email)]
                        )
                    )
                )
                browser = _trust(conn, row.id, now, TRUSTED_BROWSER_DAYS * 24)
            else:
                conn.execute(
                    update(trusted_browsers)
                    .where(trusted_browsers.c.token_hash == _hash_token(browser))
                    .values(
                        failures=0,
                        expires_at=now + timedelta(days=TRUSTED_BROWSER_DAYS),
                    )
                )
            conn.execute(
                delete(trusted_browsers).where(trusted_browsers.c.expires_at <= now)
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
            self._audit(conn, row.email, "logged in", address, now)
        kept = [t for t in held if t != browser][-(TOKENS_PER_BROWSER - 1) :]
        return Session(
            token,
            csrf,
            Account(row.id, row.email, row.first_name),
            trusted=(*kept, browser),
        )

    def _failed(
        self,
        row,
        email: str,
        address: str,
        browser: str | None,
        email_failures: int,
        now: datetime,
    ) -> None:
        """A wrong password: a trusted browser counts it itself (and is
        trusted no more after a few); the owner of an account whose email
        starts to wait is sent an unlock link."""
        unlock = None
        with self.engine.begin() as conn:
            if browser is not None:
                mine = trusted_browsers.c.token_hash == _hash_token(browser)
                conn.execute(
                    update(trusted_browsers)
                    .where(mine)
                    .values(failures=trusted_browsers.c.failures + 1)
                )
                conn.execute(
                    delete(trusted_browsers).where(
                        mine, trusted_browsers.c.failures >= TRUSTED_BROWSER_FAILURES
                    )
                )
            elif row is not None and email_failures == ACCOUNT_FREE_FAILURES:
                unlock = _trust(conn, row.id, now, UNLOCK_LINK_HOURS)
                self._audit(conn, row.email, "unlock link sent", "", now)
            # Counts a day old are forgotten anyway: made-up emails do not
            # pile up.
            conn.execute(
                delete(login_throttle).where(
                    login_throttle.c.last_failure_at < now - FORGET_FAILURES_AFTER
                )
            )
            self._audit(conn, email[:MAX_EMAIL], "login failed", address, now)
        if unlock and self.on_throttled:
            self.on_throttled(Account(row.id, row.email, row.first_name), unlock)

    def unlock(self, email: str, now: datetime | None = None) -> str:
        """``python -m bot staff unlock``: the email's count starts again;
        a one-time unlock token for its owner's browser."""
        now = now or datetime.now(timezone.utc)
        email = email.strip().lower()
        with self.engine.begin() as conn:
            found = conn.execute(
                select(staff_accounts.c.id).where(staff_accounts.c.email == email)
            ).first()
            if found is None:
                raise AccountError(f"there is no console account {email}")
            conn.execute(
                delete(login_throttle).where(
                    login_throttle.c.key == _account_key(email)
                )
            )
            token = _trust(conn, found.id, now, UNLOCK_LINK_HOURS)
            self._audit(conn, "command line", "unlocked an account", email, now)
        return token

    def unblock_address(self, address: str, now: datetime | None = None) -> bool:
        """``python -m bot staff unlock --address``: False if it had no count."""
        now = now or datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(login_throttle).where(
                    login_throttle.c.key == _address_key(address.strip())
                )
            ).rowcount
            self._audit(conn, "command line", "unblocked an address", address, now)
        return bool(gone)

    def use_unlock_link(
        self, token: str, now: datetime | None = None
    ) -> tuple[Account, str] | None:
        """An unlock link's token, once: the account, and a new token that
        trusts the browser that opened it; None for a used or old link."""
        now = now or datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            found = conn.execute(
                select(trusted_browsers.c.account_id, staff_accounts)
                .join(staff_accounts)
                .where(
                    trusted_browsers.c.token_hash == _hash_token(token or ""),
                    trusted_browsers.c.expires_at > now,
                )
            ).first()
            if found is None:
                return None
            gone = conn.execute(
                delete(trusted_browsers).where(
                    trusted_browsers.c.token_hash == _hash_token(token)
                )
            ).rowcount
            if not gone:
                return None
            fresh = _trust(conn, found.account_id, now, TRUSTED_BROWSER_DAYS * 24)
            self._audit(conn, found.email, "used an unlock link", "", now)
        return Account(found.id, found.email, found.first_name), fresh

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
