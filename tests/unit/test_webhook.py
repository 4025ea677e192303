"""The signed booking webhook against a real local HTTP receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from bot.notify.webhook import post_signed, sign, verify

SECRET = "s3cret"


@pytest.fixture
def receiver():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = verify(
                SECRET,
                self.headers["X-Signature-Timestamp"],
                body,
                self.headers["X-Signature-256"],
            )
            received.append((ok, json.loads(body)))
            self.send_response(204 if ok else 403)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_signed_post_is_verified_by_the_receiver(receiver):
    url, received = receiver
    post_signed(url, SECRET, {"booking": {"reference": "DN-4K7Q"}})
    assert received == [(True, {"booking": {"reference": "DN-4K7Q"}})]


def test_wrong_secret_is_refused(receiver):
    url, received = receiver
    with pytest.raises(requests.HTTPError):
        post_signed(url, "wrong", {"booking": {}})
    assert received[0][0] is False


def test_signature_covers_timestamp_and_body():
    signature = sign(SECRET, "100", b"{}")
    assert verify(SECRET, "100", b"{}", signature)
    assert not verify(SECRET, "101", b"{}", signature)
    assert not verify(SECRET, "100", b"{ }", signature)
