"""POST booking requests to the clinic's HTTPS webhook, signed with HMAC-SHA256.

The receiver recomputes ``hex(hmac_sha256(secret, timestamp + "." + body))``
and compares it with the ``X-Signature-256: sha256=<hex>`` header; the
timestamp in ``X-Signature-Timestamp`` lets it refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def post_signed(url: str, secret: str, payload: dict, timeout: float = 5) -> None:
    """Deliver the payload; raises unless the receiver answers 2xx."""
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    response = requests.post(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Signature-256": sign(secret, timestamp, body),
            "X-Signature-Timestamp": timestamp,
        },
        timeout=timeout,
    )
    response.raise_for_status()
