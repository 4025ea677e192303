"""Latency statistics of one load level, kept free of I/O so they are unit-tested."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One webhook request: monotonic start and end, why it failed, if it did,
    and whether the reply was the apology for a failed or slow custom action
    (a 200 with text, so not an error, but the user did not get their answer)."""

    started: float
    finished: float
    error: str | None = None
    apology: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def latency_ms(self) -> float:
        return (self.finished - self.started) * 1000


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), so small
    samples do not jump from one measured value to the next."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def summarize(samples: Sequence[Sample], start: float, end: float) -> dict:
    """Figures of the measured window [start, end).

    Requests started in the window count for latency and errors; latency is
    of the successful ones (an error's time says little: a refused connection
    is fast, a timeout is the timeout). Throughput is the successful replies
    that arrived within the window per second of window.
    """
    measured = [s for s in samples if start <= s.started < end]
    good = [s.latency_ms for s in measured if s.ok]
    errors = Counter(s.error for s in measured if not s.ok)
    duration = end - start
    delivered = sum(1 for s in measured if s.ok and s.finished <= end)
    apologies = sum(1 for s in measured if s.ok and s.apology)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "requests": len(measured),
        "ok": len(good),
        "errors": sum(errors.values()),
        "error_rate": (sum(errors.values()) / len(measured)) if measured else None,
        "errors_by_kind": dict(sorted(errors.items())),
        "apologies": apologies,
        "apology_rate": (apologies / len(measured)) if measured else None,
        "p50_ms": rounded(percentile(good, 50)),
        "p95_ms": rounded(percentile(good, 95)),
        "p99_ms": rounded(percentile(good, 99)),
        "mean_ms": rounded(sum(good) / len(good)) if good else None,
        "max_ms": rounded(max(good)) if good else None,
        "throughput_per_s": round(delivered / duration, 2) if duration > 0 else None,
        "window_seconds": round(duration, 3),
    }


def ratio(ours: float | None, stock: float | None) -> float | None:
    """ours / stock; ``None`` when either is missing or stock is zero."""
    if ours is None or stock is None or stock == 0:
        return None
    return ours / stock
