"""The README's table of settings, generated from this list.

``python -m bot.settings_table`` rewrites the table between the README's
``settings-table`` markers; ``--check`` fails when it is out of date.
tests/unit/test_settings_table.py checks that every variable the code reads is
here, so the table cannot fall behind ``bot/settings.py``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bot import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    meaning: str
    # Read by ``bot.settings.secret``: the value, or a file named by NAME_FILE.
    secret: bool = False


VARIABLES = (
    # Serving
    Variable("RASA_PORT", "5005", "Rasa's port (nginx's in the cluster)"),
    Variable("ACTION_PORT", "5055", "the action server's port"),
    Variable("ACTION_HOST", "127.0.0.1", "where the action server listens"),
    Variable(
        "ACTION_ENDPOINT_URL",
        "http://localhost:ACTION_PORT/webhook",
        "where Rasa calls the action server",
    ),  # fmt: skip
    Variable("WEB_PORT", "8080", "the demo website with the chat widget"),
    Variable("MODEL_PATH", "models/faq.tar.gz", "the trained model to serve"),
    Variable("CLINIC_SETTINGS", "clinic.yml", "the clinic's facts"),
    # Access
    Variable(
        "REST_ACCESS",
        "open",
        "REST channel: open, token (needs " "RASA_API_TOKEN) or off",
    ),  # fmt: skip
    Variable(
        "RASA_API_TOKEN",
        "one-off, printed",
        "Rasa's HTTP API and staff " "commands",
        secret=True,
    ),  # fmt: skip
    Variable(
        "ACTION_SERVER_TOKEN",
        "one-off per run",
        "what Rasa sends the " "action server",
        secret=True,
    ),  # fmt: skip
    Variable(
        "WIDGET_SECRET",
        "kept in var/widget-secret",
        "signs the widget's " "conversation ids; the same on every instance",
        secret=True,
    ),  # fmt: skip
    Variable(
        "ALLOWED_ORIGINS",
        "the demo website",
        "comma-separated sites " "whose pages may talk to Rasa",
    ),  # fmt: skip
    Variable(
        "RASA_PUBLIC_URL",
        "http://localhost:RASA_PORT",
        "Rasa's address " "as browsers see it",
    ),  # fmt: skip
    # Storage
    Variable(
        "DATABASE_URL",
        "sqlite:///var/clinic.db",
        "bookings, callbacks, " "notifications; PostgreSQL: conversations too",
    ),  # fmt: skip
    Variable(
        "TRACKER_DB",
        "var/conversations.db",
        "conversations when the " "database is SQLite",
    ),  # fmt: skip
    Variable(
        "TRACKER_DATABASE_URL", "", "conversations in a database of " "their own"
    ),  # fmt: skip
    Variable(
        "BOOKING_SPOOL",
        "var/booking-spool.db",
        "requests taken while " "the database was down",
    ),  # fmt: skip
    Variable(
        "REDIS_URL",
        "",
        "Redis for the conversation locks (needed by " "several instances)",
    ),  # fmt: skip
    Variable(
        "CLUSTER_POSTGRES_PORT",
        "55433",
        "the PostgreSQL `make " "run-cluster` runs when DATABASE_URL is not PostgreSQL",
    ),  # fmt: skip
    Variable(
        "CLUSTER_REDIS_PORT",
        "56380",
        "the Redis `make run-cluster` runs " "when REDIS_URL is unset",
    ),  # fmt: skip
    # Notifications
    Variable("SMTP_HOST", "localhost", "mail server for the clinic's emails"),
    Variable("SMTP_PORT", "25", ""),
    Variable("SMTP_USERNAME", "", ""),
    Variable("SMTP_PASSWORD", "", ""),
    Variable("SMTP_STARTTLS", "false", "true to use STARTTLS"),
    Variable("SMTP_TIMEOUT", "5", "seconds per attempt"),
    Variable("MAIL_FROM", "assistant@clinic.example", "the emails' sender"),
    Variable("BOOKING_WEBHOOK_URL", "", "also post each request here, signed"),
    Variable("BOOKING_WEBHOOK_SECRET", "", "the webhook's signing key"),  # fmt: skip
    Variable(
        "OUTBOX_RETRY_SECONDS", "60", "how often failed notifications " "are retried"
    ),  # fmt: skip
    Variable(
        "OUTBOX_BACKOFF_SECONDS", "30", "first pause after a failure, " "doubling"
    ),  # fmt: skip
    # Load and faults
    Variable(
        "ACTION_TIMEOUT_SECONDS", "1.5", "wait for a custom action, then " "apologise"
    ),  # fmt: skip
    Variable(
        "MAX_CONCURRENT_MESSAGES", "3", "messages one Rasa process works " "on at once"
    ),  # fmt: skip
    Variable(
        "FLOOD_PER_CONVERSATION",
        "5",
        "messages in work per " "conversation; more get 429",
    ),  # fmt: skip
    Variable("FLOOD_PER_ADDRESS", "30", "messages in work per client address"),
    # Messaging apps (each on when all of its variables are set)
    Variable("TWILIO_ACCOUNT_SID", "", "WhatsApp through Twilio"),
    Variable("TWILIO_AUTH_TOKEN", "", ""),
    Variable("TWILIO_WHATSAPP_NUMBER", "", ""),
    Variable("TWILIO_WEBHOOK_URL", "", "the exact URL set in Twilio's console"),
    Variable("TWILIO_API_URL", "https://api.twilio.com", ""),
    Variable("FACEBOOK_VERIFY_TOKEN", "", "Messenger"),
    Variable("FACEBOOK_APP_SECRET", "", ""),
    Variable("FACEBOOK_PAGE_ACCESS_TOKEN", "", ""),
    Variable("FACEBOOK_API_URL", "https://graph.facebook.com/v17.0", ""),
    Variable("TELEGRAM_ACCESS_TOKEN", "", "Telegram"),
    Variable("TELEGRAM_BOT_NAME", "", ""),
    Variable("TELEGRAM_WEBHOOK_URL", "", ""),
    Variable("TELEGRAM_SECRET_TOKEN", "", ""),
    Variable("TELEGRAM_API_URL", "https://api.telegram.org", ""),
)


def table() -> str:
    """One row per setting; a variable with no meaning of its own (the rest
    of a group: SMTP, each messaging app) shares the row above it."""
    rows: list[tuple[list[str], str]] = []
    for v in VARIABLES:
        name = f"`{v.name}`" + (f" = `{v.default}`" if v.default else "")
        meaning = v.meaning + (
            f"; or a file named by `{v.name}_FILE`" if v.secret else ""
        )
        if not v.meaning and rows:
            rows[-1][0].append(name)
            continue
        rows.append(([name], meaning))
    lines = ["| variable = default | meaning |", "|---|---|"]
    lines += [f"| {', '.join(names)} | {meaning.strip()} |" for names, meaning in rows]
    return "\n".join(lines)


def with_table(readme: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    current = README.read_text(encoding="utf-8")
    wanted = with_table(current)
    if "--check" in argv:
        if current != wanted:
            print("README.md's settings table is out of date: "
                  "run `python -m bot.settings_table`")  # fmt: skip
            return 1
        return 0
    Path(README).write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
