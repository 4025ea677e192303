"""Australian phone numbers and email addresses, as people type them."""

from __future__ import annotations

import re

# After normalising to national format (leading 0, 10 digits):
# 04xx mobiles, 02/03/07/08 landlines, 1300/1800 numbers. 13xxxx six-digit
# numbers are accepted too.
MOBILE = re.compile(r"^04\d{8}$")
LANDLINE = re.compile(r"^0[2378]\d{8}$")
FREECALL = re.compile(r"^1[38]00\d{6}$")
SHORT_13 = re.compile(r"^13\d{4}$")
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# "phone: 0412 ...", "mobile 0412 ...", "ph.0412 ...", "Tel: (07) ...".
LABEL = re.compile(
    r"^(?:my\s+)?(?:phone|mobile|mob|ph|tel|telephone|cell|number|no)\b\.?\s*"
    r"(?:(?:number|no)\b\.?\s*)?(?:is\b)?\s*[:#.]?\s*",
    re.I,
)
PHONE_CHARS = re.compile(r"^[\d\s()+.\-]+$")


def normalise_phone(text: str) -> str | None:
    """E.164 (+61...) for an Australian number written any common way, else None.

    Accepts "0412 345 678", "(07) 3123 4567", "+61 412 345 678",
    "61412345678", "0061 7 3123 4567", "1300 123 456". Letters, too few or
    too many digits, and non-Australian country codes are rejected.
    """
    if not text:
        return None
    candidate = text.strip()
    candidate = LABEL.sub("", candidate)
    if not PHONE_CHARS.match(candidate):
        return None
    if candidate.count("+") > 1 or ("+" in candidate and not candidate.startswith("+")):
        return None
    digits = re.sub(r"\D", "", candidate)
    if candidate.startswith("+") or digits.startswith("0061"):
        digits = digits[2:] if digits.startswith("0061") else digits
        if not digits.startswith("61"):
            return None
        national = "0" + digits[2:].removeprefix("0")
    elif digits.startswith("61") and len(digits) == 11:
        national = "0" + digits[2:]
    else:
        national = digits
    if MOBILE.match(national) or LANDLINE.match(national):
        return "+61" + national[1:]
    if FREECALL.match(national) or SHORT_13.match(national):
        return "+61" + national
    return None


def display_phone(e164: str) -> str:
    """A normalised number the way Australians read it back."""
    if not e164.startswith("+61"):
        return e164
    rest = e164[3:]
    if rest.startswith(("13", "18")):
        national = rest
        return " ".join([national[:4], national[4:7], national[7:]]).strip()
    national = "0" + rest
    if national.startswith("04"):
        return f"{national[:4]} {national[4:7]} {national[7:]}"
    return f"({national[:2]}) {national[2:6]} {national[6:]}"


def normalise_email(text: str) -> str | None:
    """A plausible email address, lower-cased domain, or None."""
    if not text:
        return None
    candidate = text.strip().strip("<>").strip()
    if len(candidate) > 254 or " " in candidate or ".." in candidate:
        return None
    if not EMAIL.match(candidate):
        return None
    local, domain = candidate.rsplit("@", 1)
    if len(local) > 64:
        return None
    return f"{local}@{domain.lower()}"
