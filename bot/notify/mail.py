"""Send plain-text email through the clinic's SMTP server."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from bot.settings import SmtpSettings


def send_mail(smtp: SmtpSettings, to: str, subject: str, body: str) -> None:
    """Send one message; raises on any SMTP or network failure."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject.replace("\n", " ").replace("\r", " ")
    message.set_content(body)
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        client.send_message(message)
