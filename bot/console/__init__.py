"""Reception's console: staff accounts and, on top of them, the web pages
(live handoff, bookings inbox, what patients ask, privacy requests)."""

from __future__ import annotations

from aiohttp.web import Response


def download(body: str, content_type: str, filename: str) -> Response:
    """A file for staff to save (CSV, JSON), never cached: it holds personal
    details."""
    return Response(
        text=body,
        content_type=content_type,
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
