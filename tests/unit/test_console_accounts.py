"""Staff accounts for the reception console: hashed passwords, sessions,
throttled logins an administrator can start again, and an audit log of who
did what (the throttle's attacks are in tests/unit/security/)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from bot import PROJECT_ROOT
from bot.console.accounts import (
    ACCOUNT_FREE_FAILURES,
    FIRST_WAIT,
    MAX_PASSWORD,
    AccountError,
    Accounts,
    Throttled,
)

START = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"


# argon2 at a low cost: these tests are about accounts, not the hash's
# strength (test_console_accounts checks the real parameters).
pytestmark = pytest.mark.usefixtures("quick_hashes")


@pytest.fixture
def accounts(tmp_path):
    found = Accounts(f"sqlite:///{tmp_path / 'clinic.db'}")
    yield found
    found.engine.dispose()


def test_a_new_account_logs_in_and_its_password_is_not_stored(accounts):
    accounts.add("Reception@Clinic.example", PASSWORD, "Sam")
    session = accounts.login("reception@clinic.example", PASSWORD, now=START)
    assert session and session.account.email == "reception@clinic.example"
    assert session.account.first_name == "Sam"
    with accounts.engine.connect() as conn:
        stored = " ".join(
            str(v)
            for row in conn.execute(text("SELECT * FROM staff_accounts"))
            for v in row
        ) + " ".join(
            str(v)
            for row in conn.execute(text("SELECT * FROM staff_sessions"))
            for v in row
        )
    assert PASSWORD not in stored and session.token not in stored
    assert "$argon2id$" in stored


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "x" * 300 + "@a.com"])
def test_bad_emails_are_refused(accounts, email):
    with pytest.raises(AccountError, match="email"):
        accounts.add(email, PASSWORD, "Sam")


def test_short_passwords_and_second_accounts_for_one_email_are_refused(accounts):
    with pytest.raises(AccountError, match="12 characters"):
        accounts.add("a@clinic.example", "short", "Sam")
    with pytest.raises(AccountError, match=f"at most {MAX_PASSWORD} characters"):
        accounts.add("a@clinic.example", "x" * (MAX_PASSWORD + 1), "Sam")
    accounts.add("a@clinic.example", PASSWORD, "Sam")
    with pytest.raises(AccountError, match="already"):
        accounts.add("A@clinic.example", PASSWORD, "Sam")


def test_wrong_passwords_make_the_email_wait_a_while_not_for_good(accounts):
    accounts.add("a@clinic.example", PASSWORD, "Sam")
    for n in range(ACCOUNT_FREE_FAILURES):
        wrong = accounts.login("a@clinic.example", "wrong", f"10.0.0.{n}", now=START)
        assert wrong is None
    # Waiting: even the right password is refused, and says for how long.
    with pytest.raises(Throttled, match="Try again in 30 seconds") as waiting:
        accounts.login("a@clinic.example", PASSWORD, "10.0.0.9", now=START)
    assert waiting.value.retry_after == FIRST_WAIT.total_seconds()
    later = START + FIRST_WAIT
    assert accounts.login("a@clinic.example", PASSWORD, "10.0.0.9", now=later)
    # A success starts the count again.
    for _ in range(ACCOUNT_FREE_FAILURES - 1):
        accounts.login("a@clinic.example", "wrong", now=later)
    assert accounts.login("a@clinic.example", PASSWORD, now=later)


def test_an_unknown_email_is_refused_like_a_wrong_password(accounts):
    assert accounts.login("nobody@clinic.example", PASSWORD, now=START) is None


def test_sessions_expire_and_logout_ends_them(accounts):
    accounts.add("a@clinic.example", PASSWORD, "Sam")
    session = accounts.login("a@clinic.example", PASSWORD, now=START)
    assert accounts.session(session.token, now=START + timedelta(hours=1))
    assert accounts.session(session.token, now=START + timedelta(hours=13)) is None
    fresh = accounts.login("a@clinic.example", PASSWORD, now=START)
    accounts.logout(fresh.token)
    assert accounts.session(fresh.token, now=START) is None
    assert accounts.session("made-up", now=START) is None


def test_each_session_has_its_own_csrf_token(accounts):
    accounts.add("a@clinic.example", PASSWORD, "Sam")
    one = accounts.login("a@clinic.example", PASSWORD, now=START)
    two = accounts.login("a@clinic.example", PASSWORD, now=START)
    assert one.csrf and two.csrf and one.csrf != two.csrf
    assert accounts.session(one.token, now=START).csrf == one.csrf


def test_the_audit_log_says_who_did_what(accounts):
    accounts.add("a@clinic.example", PASSWORD, "Sam")
    accounts.login("a@clinic.example", "wrong", now=START)
    accounts.login("a@clinic.example", PASSWORD, now=START)
    accounts.audit("a@clinic.example", "viewed", "booking DN-4K7Q", now=START)
    entries = [(e.who, e.action, e.target) for e in accounts.audit_log()]
    assert ("a@clinic.example", "login failed", "") in entries
    assert ("a@clinic.example", "logged in", "") in entries
    accounts.login("a@clinic.example", PASSWORD, "192.0.2.44", now=START)
    assert ("a@clinic.example", "logged in", "192.0.2.44") in {
        (e.who, e.action, e.target) for e in accounts.audit_log()
    }
    assert ("a@clinic.example", "viewed", "booking DN-4K7Q") in entries


@pytest.mark.slow
def test_the_command_line_adds_an_account_without_echoing_the_password(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'clinic.db'}",
        "PATH": "/usr/bin:/bin",
    }
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "staff",
            "add",
            "desk@clinic.example",
            "--name",
            "Jo",
            "--password-stdin",
        ],  # fmt: skip
        input=PASSWORD + "\n",
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    assert "desk@clinic.example" in added.stdout and PASSWORD not in added.stdout
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "staff",
            "add",
            "desk@clinic.example",
            "--name",
            "Jo",
            "--password-stdin",
        ],  # fmt: skip
        input=PASSWORD + "\n",
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "already" in again.stdout + again.stderr
    accounts = Accounts(env["DATABASE_URL"])
    assert accounts.login("desk@clinic.example", PASSWORD, now=START)
    accounts.engine.dispose()


def staff(*arguments: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "staff", *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_an_administrator_unlocks_an_email_or_an_address_from_the_command_line(
    tmp_path,
):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'clinic.db'}",
        "WEB_PUBLIC_URL": "https://chat.clinic.example",
        "PATH": "/usr/bin:/bin",
    }
    accounts = Accounts(env["DATABASE_URL"])
    accounts.add("desk@clinic.example", PASSWORD, "Jo")
    now = datetime.now(timezone.utc)
    for n in range(ACCOUNT_FREE_FAILURES):
        accounts.login("desk@clinic.example", "wrong", f"10.0.0.{n}", now=now)
    with pytest.raises(Throttled):
        accounts.login("desk@clinic.example", PASSWORD, "10.0.0.9", now=now)

    unlocked = staff("unlock", "desk@clinic.example", env=env)
    assert unlocked.returncode == 0, unlocked.stderr
    link = re.search(
        r"https://chat\.clinic\.example/staff/unlock/([\w-]+)", unlocked.stdout
    )
    assert link, unlocked.stdout
    assert accounts.login("desk@clinic.example", PASSWORD, "10.0.0.9", now=now)
    assert accounts.use_unlock_link(link.group(1)) is not None

    unknown = staff("unlock", "nobody@clinic.example", env=env)
    assert unknown.returncode == 1 and "no console account" in unknown.stderr
    address = staff("unlock", "--address", "10.0.0.3", env=env)
    assert address.returncode == 0 and "10.0.0.3" in address.stdout
    neither = staff("unlock", env=env)
    assert neither.returncode == 2
    accounts.engine.dispose()


def test_real_accounts_use_argon2ids_default_cost(monkeypatch, tmp_path):
    from argon2 import PasswordHasher, extract_parameters

    monkeypatch.setattr("bot.console.accounts.PasswordHasher", PasswordHasher)
    real = Accounts(f"sqlite:///{tmp_path / 'real.db'}")
    real.add("a@clinic.example", PASSWORD, "Sam")
    with real.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM staff_accounts")).scalar()
    default = PasswordHasher()
    used = extract_parameters(stored)
    assert (used.time_cost, used.memory_cost, used.parallelism) == (
        default.time_cost,
        default.memory_cost,
        default.parallelism,
    )
    real.engine.dispose()
