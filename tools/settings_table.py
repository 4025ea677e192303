"""The README's table of settings, generated from this list.

``python -m tools.settings_table`` rewrites the table between the README's
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


# name | default | meaning [| file: a secret that may come from NAME_FILE].
# A row with no meaning shares the table row of the one above it.
_ROWS = """
# Serving
RASA_PORT | 5005 | Rasa's port (nginx's in the cluster)
ACTION_PORT | 5055 | the action server: its port, where it listens, the URL Rasa calls
ACTION_HOST | 127.0.0.1 |
ACTION_ENDPOINT_URL | http://localhost:ACTION_PORT/webhook |
WEB_PORT | 8080 | the website with the chat widget and the console
MODEL_PATH | models/faq.tar.gz | the trained model to serve
CLINIC_SETTINGS | clinic.yml | the clinic's facts
# Access
REST_ACCESS | open | REST channel: open, token (needs RASA_API_TOKEN) or off
RASA_API_TOKEN | one-off, printed | Rasa's HTTP API and staff commands | file
ACTION_SERVER_TOKEN | one-off per run | what Rasa sends the action server | file
WIDGET_SECRET | kept in var/widget-secret | signs the widget's conversation ids; the same on every instance | file
ALLOWED_ORIGINS | the demo website | the sites whose pages may talk to Rasa (comma-separated), and Rasa's address as browsers see it
RASA_PUBLIC_URL | http://localhost:RASA_PORT |
# Storage
DATABASE_URL | sqlite:///var/clinic.db | bookings, callbacks, notifications, console; PostgreSQL: conversations too
TRACKER_DB | var/conversations.db | conversations: the SQLite file, or a database of their own
TRACKER_DATABASE_URL |  |
BOOKING_SPOOL | var/booking-spool.db | requests taken while the database was down
REDIS_URL |  | Redis for the conversation locks (needed by several instances)
CLUSTER_POSTGRES_PORT | 55433 | the PostgreSQL and Redis `make run-cluster` runs itself when the URLs above do not name them
CLUSTER_REDIS_PORT | 56380 |
RETENTION_CONVERSATION_DAYS | 90 | days a conversation (after its last message) and a request (with its notes) are kept
RETENTION_BOOKING_DAYS | 730 |
# Reception's console
HANDOFF_WAIT_SECONDS | 180 | how long a patient waits for a person before being offered a callback
HANDOFF_PER_CONVERSATION | 3 | requests for a person per conversation and per client address in an hour; more are asked to call
HANDOFF_PER_ADDRESS | 10 |
RASA_API_URL | http://127.0.0.1:RASA_PORT | where the console reaches Rasa's HTTP API (with RASA_API_TOKEN)
WEB_PUBLIC_URL | http://localhost:WEB_PORT | the website's address as staff reach it, for the unlock links emailed to staff
WEB_TRUSTED_PROXIES |  | proxies in front of the website (addresses or networks, comma-separated) whose X-Forwarded-For and X-Forwarded-Proto are believed; nobody else's
# Notifications
SMTP_HOST | localhost | the clinic's mail server: host, port, login, STARTTLS (true or false), seconds per attempt, sender
SMTP_PORT | 25 |
SMTP_USERNAME |  |
SMTP_PASSWORD |  |
SMTP_STARTTLS | false |
SMTP_TIMEOUT | 5 |
MAIL_FROM | assistant@clinic.example |
BOOKING_WEBHOOK_URL |  | also post each request here, signed with the secret
BOOKING_WEBHOOK_SECRET |  |
OUTBOX_RETRY_SECONDS | 60 | how often failed notifications are retried; the first pause after a failure (doubling)
OUTBOX_BACKOFF_SECONDS | 30 |
# Load and faults
ACTION_TIMEOUT_SECONDS | 1.5 | wait for a custom action, then apologise
MAX_CONCURRENT_MESSAGES | 3 | messages one Rasa process works on at once
FLOOD_PER_CONVERSATION | 5 | messages in work per conversation and per client address; more get 429
FLOOD_PER_ADDRESS | 30 |
# Messaging apps, each on when all of its variables are set
TWILIO_ACCOUNT_SID |  | WhatsApp through Twilio; TWILIO_WEBHOOK_URL is the exact URL set in Twilio's console
TWILIO_AUTH_TOKEN |  |
TWILIO_WHATSAPP_NUMBER |  |
TWILIO_WEBHOOK_URL |  |
TWILIO_API_URL | https://api.twilio.com |
FACEBOOK_VERIFY_TOKEN |  | Messenger
FACEBOOK_APP_SECRET |  |
FACEBOOK_PAGE_ACCESS_TOKEN |  |
FACEBOOK_API_URL | https://graph.facebook.com/v17.0 |
TELEGRAM_ACCESS_TOKEN |  | Telegram
TELEGRAM_BOT_NAME |  |
TELEGRAM_WEBHOOK_URL |  |
TELEGRAM_SECRET_TOKEN |  |
TELEGRAM_API_URL | https://api.telegram.org |
"""


def _parse(rows: str) -> tuple[Variable, ...]:
    found = []
    for line in rows.strip().splitlines():
        if line.startswith("#"):
            continue
        name, default, meaning, *flag = (part.strip() for part in line.split("|"))
        found.append(Variable(name, default, meaning, secret=flag == ["file"]))
    return tuple(found)


VARIABLES = _parse(_ROWS)


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
                  "run `python -m tools.settings_table`")  # fmt: skip
            return 1
        return 0
    Path(README).write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
