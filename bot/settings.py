"""Runtime configuration, read from the environment in this one place.

Nothing here connects to anything; callers decide when to use the values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bot import PROJECT_ROOT


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
class Settings:
    rasa_port: int
    action_port: int
    model_path: Path
    tracker_db: Path
    action_endpoint_url: str
    api_token: str | None
    database_url: str
    smtp: SmtpSettings
    webhook_url: str | None
    webhook_secret: str | None

    def notification_targets(self) -> tuple[str, ...]:
        """Where booking requests go: email always, the webhook when configured."""
        return ("email", "webhook") if self.webhook_url else ("email",)

    def rasa_environment(self) -> dict[str, str]:
        """Variables that ``endpoints.yml`` interpolates."""
        return {
            "ACTION_ENDPOINT_URL": self.action_endpoint_url,
            "TRACKER_DB": str(self.tracker_db),
        }


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise SystemExit(f"{name} must be between 1 and 65535, got {port}")
    return port


def load_settings() -> Settings:
    action_port = _port("ACTION_PORT", 5055)
    return Settings(
        rasa_port=_port("RASA_PORT", 5005),
        action_port=action_port,
        model_path=Path(
            os.environ.get("MODEL_PATH", PROJECT_ROOT / "models" / "faq.tar.gz")
        ),
        tracker_db=Path(
            os.environ.get("TRACKER_DB", PROJECT_ROOT / "var" / "conversations.db")
        ),
        action_endpoint_url=os.environ.get(
            "ACTION_ENDPOINT_URL", f"http://localhost:{action_port}/webhook"
        ),
        api_token=os.environ.get("RASA_API_TOKEN") or None,
        database_url=os.environ.get(
            "DATABASE_URL", f"sqlite:///{PROJECT_ROOT / 'var' / 'clinic.db'}"
        ),
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
    )
