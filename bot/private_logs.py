"""Phone numbers, email addresses and the widget's ids masked in every log
line.

Installed as the logging record factory in each of our processes (the Rasa
server, the action server, the website), so whichever library logs a
patient's message or a booking, the line keeps only the last two digits of
a phone number and the first letter and the domain of an email address; an
email spelled out ("zara at example dot com") becomes ``[email]``. A widget
conversation id is the patient's key to their chat (bot/channels/ids.py),
so wherever Rasa or a library prints one, the line shows its handle.
"""

from __future__ import annotations

import logging
import re

from bot.conversation_ids import handle

EMAIL = re.compile(r"(?<![\w.+-])([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")
# Something that starts like a phone number (+, 0 or "(0") and has 8 to 13
# digits, in groups of digits, spaces, dashes and brackets.
PHONE = re.compile(r"(?<![\w+])(?:\+|\(?0)[\d\s()-]{6,}\d(?!\w)")
# A widget's conversation id, with or without its namespace.
WIDGET_ID = re.compile(
    r"(?<![\w-])(?:web:)?([A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22})(?![\w-])"
)
# An email spelled out to get past filters: "zara.q at example dot com",
# "zara dot q (at) example dot com dot au".
_DOT = r"(?:\s+dot\s+|\s*[(\[]dot[)\]]\s*|\.)"
_AT = r"(?:\s+at\s+|\s*[(\[]at[)\]]\s*|\s*@\s*)"
_PART = r"[A-Za-z0-9_+-]+"
SPELLED_EMAIL = re.compile(
    rf"(?i)(?<![\w.+-]){_PART}(?:{_DOT}{_PART})*{_AT}{_PART}(?:{_DOT}{_PART})*"
    rf"{_DOT}(?:com|net|org|edu|gov|info|biz|io|co|me|au|nz|uk)\b"
)
_installed = False


def _phone(match: re.Match) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 8 <= digits <= 13:
        return text
    seen, masked = 0, []
    for c in text:
        if c.isdigit():
            seen += 1
            masked.append(c if seen > digits - 2 else "*")
        else:
            masked.append(c)
    return "".join(masked)


def mask(text: str) -> str:
    text = WIDGET_ID.sub(lambda m: handle(f"web:{m.group(1)}"), text)
    text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = SPELLED_EMAIL.sub("[email]", text)
    return PHONE.sub(_phone, text)


def install() -> None:
    """Mask every record created from now on, whoever logs it."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def masked_record(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's to report
            return record
        safe = mask(message)
        if safe != message:
            record.msg, record.args = safe, ()
        return record

    logging.setLogRecordFactory(masked_record)
    _installed = True
