"""Checks that a webhook really comes from the messaging provider.

Every comparison is constant-time so response timing reveals nothing about
the expected value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlparse

from multidict import MultiDict
from twilio.request_validator import RequestValidator, add_port, remove_port

MISSING = "send the API token as 'Authorization: Bearer <token>'"


def bearer_matches(header: str | None, token: str) -> bool:
    """The ``Authorization`` header carries ``token`` (Rasa's HTTP API and
    the REST channel with ``REST_ACCESS=token``)."""
    given = (header or "").encode("utf8")
    return hmac.compare_digest(given, f"Bearer {token}".encode())


def same_secret(expected: str, given: str | None) -> bool:
    """Whether a shared secret sent in a header or query matches ours."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def twilio_params(body: bytes) -> MultiDict:
    """The POST parameters exactly as Twilio signed them, blank ones included
    (Sanic's ``request.form`` drops those, which would break the signature)."""
    return MultiDict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def valid_twilio_signature(
    auth_token: str, url: str, params: Mapping, signature: str | None
) -> bool:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1 of the public URL
    followed by the sorted POST parameters, keyed with the auth token.

    Twilio may sign the URL with or without its default port, so both are
    accepted, as Twilio's own validator does.
    """
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    parsed = urlparse(url)
    candidates = {remove_port(parsed), add_port(parsed)}
    return any(
        hmac.compare_digest(
            validator.compute_signature(candidate, params).encode(),
            signature.encode(),
        )
        for candidate in candidates
    )


def valid_hub_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Meta's ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len("sha256=") :].encode())
