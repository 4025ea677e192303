"""Runtime configuration, read from the environment in this one place.

Nothing here connects to anything; callers decide when to use the values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

from bot import PROJECT_ROOT

# Defaults that the Rasa patches also start with before they are configured
# (bot/rasa/install.py).
ACTION_TIMEOUT_SECONDS = 1.5
MAX_CONCURRENT_MESSAGES = 3
# Messages in work at once per conversation and per client address.
FLOOD_PER_CONVERSATION = 5
FLOOD_PER_ADDRESS = 30
# The largest body any public route takes (Rasa's webhooks, the website).
PUBLIC_REQUEST_MAX_SIZE = 64 * 1024


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    sender: str
    timeout: float


@dataclass(frozen=True)
class WebSettings:
    """The demo page with the chat widget, and who may talk to Rasa from a browser."""

    port: int
    allowed_origins: tuple[str, ...]
    rasa_public_url: str
    # The website's address as staff reach it: links in emails to staff.
    public_url: str = "http://localhost:8080"
    # Proxies (addresses or networks) whose X-Forwarded-For and
    # X-Forwarded-Proto the website believes; nobody else's.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class TwilioSettings:
    """WhatsApp through Twilio. ``webhook_url`` is the public address Twilio
    posts to; its signature covers that exact URL, so it must be configured."""

    account_sid: str
    auth_token: str
    whatsapp_number: str
    webhook_url: str
    api_url: str


@dataclass(frozen=True)
class MessengerSettings:
    verify_token: str
    app_secret: str
    page_access_token: str
    api_url: str


@dataclass(frozen=True)
class TelegramSettings:
    access_token: str
    bot_name: str
    webhook_url: str
    secret_token: str
    api_url: str


@dataclass(frozen=True)
class ChannelSettings:
    """A messaging channel is ``None`` unless all of its secrets are set."""

    whatsapp: TwilioSettings | None
    messenger: MessengerSettings | None
    telegram: TelegramSettings | None


@dataclass(frozen=True)
class Settings:
    rasa_port: int
    action_port: int
    model_path: Path
    # The clinic's facts (hours, fees, phone): bot.clinic.facts.load_clinic reads it.
    clinic_settings: Path
    tracker_db: Path
    action_endpoint_url: str
    # Where the action server listens (loopback unless the cluster needs
    # more) and the secret Rasa must send it with every call.
    action_host: str
    action_token: str | None
    api_token: str | None
    # The REST channel: "open" (the local demo), "token" (integrations send
    # the API token) or "off".
    rest_access: str
    database_url: str
    tracker_database_url: str | None
    booking_spool: Path
    redis_url: str | None
    smtp: SmtpSettings
    webhook_url: str | None
    webhook_secret: str | None
    outbox_retry_seconds: float
    outbox_backoff_seconds: float
    max_concurrent_messages: int
    # How long Rasa waits for a custom action before it apologises.
    action_timeout_seconds: float
    # Days a conversation (since its last message) and a booking request are
    # kept (bot/privacy/retention.py).
    retention_conversation_days: int
    retention_booking_days: int
    # Messages in work at once per conversation and per client address
    # (bot.channels.floods); beyond them, 429 or "one moment".
    flood_per_conversation: int
    flood_per_address: int
    # How long a patient waits for a person at reception before the
    # console offers a callback; where the console reaches Rasa's HTTP API.
    handoff_wait_seconds: float
    # Handoff requests (each emails staff) per conversation and per client
    # address in an hour (bot/handoff/queue.py); beyond them, call us.
    handoff_per_conversation: int
    handoff_per_address: int
    rasa_api_url: str
    web: WebSettings
    channels: ChannelSettings
    # Where ``bot cluster`` runs its own PostgreSQL and Redis when
    # DATABASE_URL / REDIS_URL do not name servers.
    cluster_postgres_port: int = 55433
    cluster_redis_port: int = 56380

    def notification_targets(self) -> tuple[str, ...]:
        """Where booking requests go: email always, the webhook when configured."""
        return ("email", "webhook") if self.webhook_url else ("email",)


def _whole_number(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise SystemExit(f"{name} must be a whole number {bounds}, not {raw!r}")
    return value


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 3600:
        raise SystemExit(f"{name} must be a number of seconds above 0, not {raw!r}")
    return value


def _port(name: str, default: int) -> int:
    return _whole_number(name, default, 1, 65535)


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (_env(name) or default).lower()
    if value not in allowed:
        raise SystemExit(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def secret(name: str) -> str | None:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE``; never
    from a command line, which every user of the machine can read."""
    if value := _env(name):
        return value
    path = _env(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf8").strip() or None
    except OSError as error:
        raise SystemExit(f"{name}_FILE: cannot read {path}: {error}") from error


def _all_set(*names: str) -> dict[str, str] | None:
    """The values when every one of ``names`` is set, else ``None``."""
    values = {name: _env(name) for name in names}
    return values if all(values.values()) else None


def _networks(name: str, raw: str | None) -> tuple[str, ...]:
    """``name``'s comma-separated addresses or networks (``10.0.0.0/8``)."""
    found = tuple(p.strip() for p in (raw or "").split(",") if p.strip())
    for network in found:
        try:
            ip_network(network, strict=False)
        except ValueError:
            raise SystemExit(
                f"{name} must list addresses or networks, not {network!r}"
            ) from None
    return found


def _web(rasa_port: int) -> WebSettings:
    port = _port("WEB_PORT", 8080)
    demo = (f"http://localhost:{port}", f"http://127.0.0.1:{port}")
    raw = _env("ALLOWED_ORIGINS")
    origins = tuple(o.strip() for o in raw.split(",") if o.strip()) if raw else demo
    public = _env("WEB_PUBLIC_URL") or f"http://localhost:{port}"
    if urlsplit(public).scheme not in ("http", "https") or not urlsplit(public).netloc:
        raise SystemExit(f"WEB_PUBLIC_URL must be an http(s) URL, not {public!r}")
    return WebSettings(
        port=port,
        allowed_origins=origins,
        rasa_public_url=_env("RASA_PUBLIC_URL") or f"http://localhost:{rasa_port}",
        public_url=public,
        trusted_proxies=_networks("WEB_TRUSTED_PROXIES", _env("WEB_TRUSTED_PROXIES")),
    )


def _channels() -> ChannelSettings:
    twilio = _all_set(
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_WHATSAPP_NUMBER",
        "TWILIO_WEBHOOK_URL",
    )
    messenger = _all_set(
        "FACEBOOK_VERIFY_TOKEN", "FACEBOOK_APP_SECRET", "FACEBOOK_PAGE_ACCESS_TOKEN"
    )
    telegram = _all_set(
        "TELEGRAM_ACCESS_TOKEN",
        "TELEGRAM_BOT_NAME",
        "TELEGRAM_WEBHOOK_URL",
        "TELEGRAM_SECRET_TOKEN",
    )
    return ChannelSettings(
        whatsapp=twilio
        and TwilioSettings(
            account_sid=twilio["TWILIO_ACCOUNT_SID"],
            auth_token=twilio["TWILIO_AUTH_TOKEN"],
            whatsapp_number=twilio["TWILIO_WHATSAPP_NUMBER"],
            webhook_url=twilio["TWILIO_WEBHOOK_URL"],
            api_url=_env("TWILIO_API_URL") or "https://api.twilio.com",
        ),
        messenger=messenger
        and MessengerSettings(
            verify_token=messenger["FACEBOOK_VERIFY_TOKEN"],
            app_secret=messenger["FACEBOOK_APP_SECRET"],
            page_access_token=messenger["FACEBOOK_PAGE_ACCESS_TOKEN"],
            api_url=_env("FACEBOOK_API_URL") or "https://graph.facebook.com/v17.0",
        ),
        telegram=telegram
        and TelegramSettings(
            access_token=telegram["TELEGRAM_ACCESS_TOKEN"],
            bot_name=telegram["TELEGRAM_BOT_NAME"],
            webhook_url=telegram["TELEGRAM_WEBHOOK_URL"],
            secret_token=telegram["TELEGRAM_SECRET_TOKEN"],
            api_url=_env("TELEGRAM_API_URL") or "https://api.telegram.org",
        ),
    )


def load_settings() -> Settings:
    action_port = _port("ACTION_PORT", 5055)
    rasa_port = _port("RASA_PORT", 5005)
    return Settings(
        rasa_port=rasa_port,
        action_port=action_port,
        model_path=Path(
            os.environ.get("MODEL_PATH", PROJECT_ROOT / "models" / "faq.tar.gz")
        ),
        clinic_settings=Path(
            os.environ.get("CLINIC_SETTINGS", PROJECT_ROOT / "clinic.yml")
        ),
        tracker_db=Path(
            os.environ.get("TRACKER_DB", PROJECT_ROOT / "var" / "conversations.db")
        ),
        action_endpoint_url=os.environ.get(
            "ACTION_ENDPOINT_URL", f"http://localhost:{action_port}/webhook"
        ),
        action_host=_env("ACTION_HOST") or "127.0.0.1",
        action_token=secret("ACTION_SERVER_TOKEN"),
        api_token=secret("RASA_API_TOKEN"),
        rest_access=_choice("REST_ACCESS", "open", ("open", "token", "off")),
        database_url=os.environ.get(
            "DATABASE_URL", f"sqlite:///{PROJECT_ROOT / 'var' / 'clinic.db'}"
        ),
        tracker_database_url=_env("TRACKER_DATABASE_URL"),
        booking_spool=Path(
            os.environ.get("BOOKING_SPOOL", PROJECT_ROOT / "var" / "booking-spool.db")
        ),
        redis_url=_env("REDIS_URL"),
        smtp=SmtpSettings(
            host=os.environ.get("SMTP_HOST", "localhost"),
            port=_port("SMTP_PORT", 25),
            username=os.environ.get("SMTP_USERNAME") or None,
            password=os.environ.get("SMTP_PASSWORD") or None,
            starttls=os.environ.get("SMTP_STARTTLS", "false").lower() == "true",
            sender=os.environ.get("MAIL_FROM", "assistant@clinic.example"),
            timeout=float(os.environ.get("SMTP_TIMEOUT", "5")),
        ),
        webhook_url=os.environ.get("BOOKING_WEBHOOK_URL") or None,
        webhook_secret=os.environ.get("BOOKING_WEBHOOK_SECRET") or None,
        outbox_retry_seconds=float(os.environ.get("OUTBOX_RETRY_SECONDS", "60")),
        outbox_backoff_seconds=float(os.environ.get("OUTBOX_BACKOFF_SECONDS", "30")),
        max_concurrent_messages=_whole_number(
            "MAX_CONCURRENT_MESSAGES", MAX_CONCURRENT_MESSAGES, 1
        ),
        action_timeout_seconds=_seconds(
            "ACTION_TIMEOUT_SECONDS", ACTION_TIMEOUT_SECONDS
        ),
        retention_conversation_days=_whole_number("RETENTION_CONVERSATION_DAYS", 90, 1),
        retention_booking_days=_whole_number("RETENTION_BOOKING_DAYS", 730, 1),
        flood_per_conversation=_whole_number(
            "FLOOD_PER_CONVERSATION", FLOOD_PER_CONVERSATION, 1
        ),
        flood_per_address=_whole_number("FLOOD_PER_ADDRESS", FLOOD_PER_ADDRESS, 1),
        handoff_wait_seconds=_seconds("HANDOFF_WAIT_SECONDS", 180),
        handoff_per_conversation=_whole_number("HANDOFF_PER_CONVERSATION", 3, 1),
        handoff_per_address=_whole_number("HANDOFF_PER_ADDRESS", 10, 1),
        rasa_api_url=os.environ.get("RASA_API_URL") or f"http://127.0.0.1:{rasa_port}",
        web=_web(rasa_port),
        channels=_channels(),
        cluster_postgres_port=_port("CLUSTER_POSTGRES_PORT", 55433),
        cluster_redis_port=_port("CLUSTER_REDIS_PORT", 56380),
    )
