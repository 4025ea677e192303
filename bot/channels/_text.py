"""Fitting bot messages into the providers' length limits."""

from __future__ import annotations


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at paragraph, line or word
    breaks where possible, so a long answer is never rejected or truncated."""
    text = text.strip()
    pieces = []
    while len(text) > limit:
        cut = _cut(text[: limit + 1], limit)
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _cut(window: str, limit: int) -> int:
    """The strongest break in the second half of the window, else the last
    break of any kind, else the limit itself."""
    breaks = [window.rfind(sep) for sep in ("\n\n", "\n", " ")]
    for cut in breaks:
        if cut > limit // 2:
            return cut
    return max(breaks) if max(breaks) > 0 else limit


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis when too long."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
