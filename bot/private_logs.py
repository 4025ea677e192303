"""Phone numbers and email addresses masked in every log line.

Installed as the logging record factory in each of our processes (the Rasa
server, the action server, the website), so whichever library logs a
patient's message or a booking, the line keeps only the last two digits of
a phone number and the first letter and the domain of an email address.
"""

from __future__ import annotations

import logging
import re

EMAIL = re.compile(r"(?<![\w.+-])([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")
# Something that starts like a phone number (+, 0 or "(0") and has 8 to 13
# digits, in groups of digits, spaces, dashes and brackets.
PHONE = re.compile(r"(?<![\w+])(?:\+|\(?0)[\d\s()-]{6,}\d(?!\w)")
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
    text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
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
