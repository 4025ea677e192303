"""Login throttling from the attacker's side: guessing is slowed per client
address and per email, yet a stranger can neither tell which emails are
staff accounts nor keep a staff member out.

Against the real Accounts on a real database (SQLite and PostgreSQL where
it matters), with the clock passed in; argon2 at a low cost, counted.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from bot.console.accounts import (
    ACCOUNT_FREE_FAILURES,
    ADDRESS_FREE_FAILURES,
    FORGET_FAILURES_AFTER,
    LONGEST_WAIT,
    TRUSTED_BROWSER_FAILURES,
    UNLOCK_LINK_HOURS,
    Accounts,
    Throttled,
)

START = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"
STAFF = "desk@clinic.example"
NOBODY = "nobody@clinic.example"

pytestmark = pytest.mark.usefixtures("quick_hashes")


class Hashes:
    """Counts the password checks argon2 really runs."""

    def __init__(self, accounts: Accounts) -> None:
        self.calls = 0
        self.real = accounts._hasher
        accounts._hasher = self

    def verify(self, *args) -> bool:
        self.calls += 1
        return self.real.verify(*args)

    def hash(self, *args) -> str:
        return self.real.hash(*args)


@pytest.fixture
def mailed():
    return []


@pytest.fixture
def accounts(tmp_path, mailed):
    found = Accounts(
        f"sqlite:///{tmp_path / 'clinic.db'}",
        on_throttled=lambda account, token: mailed.append((account.email, token)),
    )
    found.add(STAFF, PASSWORD, "Jo")
    yield found
    found.engine.dispose()


def attempt(accounts, email, password="wrong password!", address="198.51.100.7",
            trusted=(), at=START):  # fmt: skip
    """What the person at the login form learns: in, wrong, or wait (and
    how long, and why)."""
    try:
        session = accounts.login(email, password, address, trusted, now=at)
    except Throttled as error:
        return ("wait", error.scope, error.retry_after, str(error))
    return "in" if session else "wrong"


def stranger(n: int) -> str:
    """One of many addresses a botnet sends from."""
    return f"203.0.113.{n % 250}"


def test_an_unknown_email_is_answered_exactly_like_a_staff_account(accounts):
    """The old lock answered a staff email with "locked" in 5 ms: here every
    answer, wait and message is the same for a real and a made-up email."""
    answers = {}
    seconds = [0, 1, 2, 3, 4, 5, 6, 40, 41, 120, 200]
    for email in (STAFF, NOBODY):
        answers[email] = [
            attempt(
                accounts, email, address=stranger(i), at=START + timedelta(seconds=t)
            )
            for i, t in enumerate(seconds)
        ]
    assert answers[STAFF] == answers[NOBODY]
    # The free failures, a wait, one more try after it, a longer wait.
    assert answers[STAFF][:ACCOUNT_FREE_FAILURES] == ["wrong"] * ACCOUNT_FREE_FAILURES
    waits = [a if a == "wrong" else a[:3] for a in answers[STAFF]]
    assert waits[ACCOUNT_FREE_FAILURES:] == [
        ("wait", "account", 29), ("wait", "account", 28), "wrong",
        ("wait", "account", 59), "wrong", ("wait", "account", 40),
    ]  # fmt: skip


def test_the_password_is_checked_while_an_email_waits_known_or_not(accounts):
    """The same code path, not a fast refusal: argon2 runs on every attempt
    at a waiting email, a staff account's or not."""
    hashes = Hashes(accounts)
    for email in (STAFF, NOBODY):
        for i in range(ACCOUNT_FREE_FAILURES):
            attempt(accounts, email, address=stranger(i))
        before = hashes.calls
        for i in range(3):
            assert attempt(accounts, email, address=stranger(50 + i))[0] == "wait"
        assert hashes.calls - before == 3


def test_the_right_password_does_not_get_in_while_the_email_waits(accounts):
    for i in range(ACCOUNT_FREE_FAILURES):
        attempt(accounts, STAFF, address=stranger(i))
    assert attempt(accounts, STAFF, PASSWORD, address=stranger(9))[0] == "wait"


def test_waits_grow_to_fifteen_minutes_and_a_quiet_day_forgets_them(accounts):
    at = START
    for i in range(ACCOUNT_FREE_FAILURES):
        attempt(accounts, NOBODY, address=stranger(i), at=at)
    waits = []
    for i in range(8):
        answer = attempt(accounts, NOBODY, address=stranger(i), at=at)
        waits.append(answer[2])
        # The first moment it is let in again: one more failure.
        at += timedelta(seconds=answer[2])
        assert attempt(accounts, NOBODY, address=stranger(i), at=at) == "wrong"
    assert waits == [30, 60, 120, 240, 480, 900, 900, 900]
    assert LONGEST_WAIT == timedelta(seconds=900)
    later = at + FORGET_FAILURES_AFTER + timedelta(seconds=1)
    for i in range(ACCOUNT_FREE_FAILURES):
        assert attempt(accounts, NOBODY, address=stranger(i), at=later) == "wrong"


def test_made_up_emails_do_not_pile_up(accounts):
    """Each guessed email keeps a count; a day later the next failure
    clears those the day has forgotten."""
    for i in range(30):
        attempt(accounts, f"made-up-{i}@clinic.example", address=stranger(i))
    with accounts.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM login_throttle")).scalar() > 30
    later = START + FORGET_FAILURES_AFTER + timedelta(seconds=1)
    attempt(accounts, NOBODY, address="192.0.2.99", at=later)
    with accounts.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM login_throttle")).scalar() == 2


def test_a_stranger_cannot_keep_out_a_browser_that_logged_in_before(accounts):
    """The lockout attack: wrong passwords from hundreds of addresses keep
    the email waiting, but the staff member's own browser is not slowed."""
    session = accounts.login(STAFF, PASSWORD, "192.0.2.10", now=START)
    browser = session.trusted
    at = START
    for i in range(300):
        at += timedelta(seconds=5)
        attempt(accounts, STAFF, address=stranger(i), at=at)
    assert attempt(accounts, STAFF, PASSWORD, stranger(301), at=at)[0] == "wait"
    assert attempt(accounts, STAFF, PASSWORD, "192.0.2.10", browser, at) == "in"


def test_a_trusted_browser_has_a_few_wrong_passwords_of_its_own(accounts):
    """A stolen or shared trusted cookie is no way around the wait."""
    browser = accounts.login(STAFF, PASSWORD, "192.0.2.10", now=START).trusted
    for i in range(ACCOUNT_FREE_FAILURES):
        attempt(accounts, STAFF, address=stranger(i))
    for _ in range(TRUSTED_BROWSER_FAILURES):
        assert attempt(accounts, STAFF, trusted=browser) == "wrong"
    assert attempt(accounts, STAFF, PASSWORD, trusted=browser)[0] == "wait"


def test_a_browser_trusted_for_one_account_is_not_trusted_for_another(accounts):
    accounts.add("other@clinic.example", PASSWORD, "Al")
    browser = accounts.login(STAFF, PASSWORD, "192.0.2.10", now=START).trusted
    for i in range(ACCOUNT_FREE_FAILURES):
        attempt(accounts, "other@clinic.example", address=stranger(i))
    answer = attempt(accounts, "other@clinic.example", PASSWORD, trusted=browser)
    assert answer[0] == "wait"


def test_one_address_waits_whatever_email_it_tries_and_costs_no_hash(accounts):
    """Spraying one password over many emails from one address: after a few
    the address waits, for every email (the answer says nothing about them)
    and without argon2 running, so a flood cannot buy CPU time."""
    address = "198.51.100.99"
    for i in range(ADDRESS_FREE_FAILURES):
        assert attempt(accounts, f"guess{i}@clinic.example", address=address) == "wrong"
    hashes = Hashes(accounts)
    refused = [attempt(accounts, email, PASSWORD, address) for email in (STAFF, NOBODY)]
    assert refused[0] == refused[1] and refused[0][:3] == ("wait", "address", 30)
    assert "your network" in refused[0][3]
    assert hashes.calls == 0
    assert attempt(accounts, STAFF, PASSWORD, "198.51.100.100") == "in"


def test_a_right_password_starts_the_counts_again(accounts):
    for _ in range(ACCOUNT_FREE_FAILURES - 1):
        attempt(accounts, STAFF)
    assert attempt(accounts, STAFF, PASSWORD) == "in"
    for _ in range(ACCOUNT_FREE_FAILURES - 1):
        assert attempt(accounts, STAFF) == "wrong"


@pytest.mark.parametrize("email", [STAFF, NOBODY])
def test_logins_sent_together_cannot_all_slip_through(any_database, email):
    """Forty guesses at once from forty addresses: the count is taken before
    the password is checked, so only the free few are checked at all."""
    accounts = Accounts(any_database)
    accounts.add(STAFF, PASSWORD, "Jo")
    hashes = Hashes(accounts)
    answers, go = [], threading.Barrier(40)

    def guess(n: int) -> None:
        go.wait()
        answers.append(attempt(accounts, email, address=stranger(n)))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    accounts.engine.dispose()
    assert len(answers) == 40
    assert answers.count("wrong") == ACCOUNT_FREE_FAILURES
    assert hashes.calls == 40  # every waiting answer still checks, as said


def test_the_owner_is_mailed_an_unlock_link_once_and_a_stranger_never(accounts, mailed):
    for i in range(40):
        attempt(accounts, STAFF, address=stranger(i), at=START + timedelta(hours=i))
        attempt(accounts, NOBODY, address=stranger(i), at=START + timedelta(hours=i))
    assert [email for email, _ in mailed] == [STAFF]


def test_the_unlock_link_lets_one_browser_in_once_within_a_day(accounts, mailed):
    for i in range(ACCOUNT_FREE_FAILURES):
        attempt(accounts, STAFF, address=stranger(i))
    [(_, link)] = mailed
    # The link is no trusted cookie by itself for long, and works once.
    account, browser = accounts.use_unlock_link(link, now=START)
    assert account.email == STAFF
    assert accounts.use_unlock_link(link, now=START) is None
    assert attempt(accounts, STAFF, PASSWORD, trusted=(browser,)) == "in"
    # Meanwhile every other browser still waits.
    assert attempt(accounts, STAFF, PASSWORD, address=stranger(7))[0] == "wait"


def test_an_old_or_made_up_unlock_link_does_nothing(accounts, mailed):
    for i in range(ACCOUNT_FREE_FAILURES):
        attempt(accounts, STAFF, address=stranger(i))
    [(_, link)] = mailed
    late = START + timedelta(hours=UNLOCK_LINK_HOURS, seconds=1)
    assert accounts.use_unlock_link(link, now=late) is None
    assert accounts.use_unlock_link("x" * 43, now=START) is None


def test_an_administrator_starts_an_email_or_an_address_again(accounts):
    for i in range(ACCOUNT_FREE_FAILURES):
        attempt(accounts, STAFF, address=stranger(i))
    token = accounts.unlock(STAFF, now=START)
    assert attempt(accounts, STAFF, PASSWORD, address=stranger(9)) == "in"
    assert accounts.use_unlock_link(token, now=START) is not None
    for i in range(ADDRESS_FREE_FAILURES):
        attempt(accounts, f"g{i}@clinic.example", address="198.51.100.5")
    assert attempt(accounts, STAFF, PASSWORD, "198.51.100.5")[1] == "address"
    assert accounts.unblock_address("198.51.100.5")
    assert attempt(accounts, STAFF, PASSWORD, "198.51.100.5") == "in"
    actions = {(e.who, e.action, e.target) for e in accounts.audit_log()}
    assert ("command line", "unlocked an account", STAFF) in actions
    assert ("command line", "unblocked an address", "198.51.100.5") in actions
