"""The benchmark's table, targets, scenario verdicts, JSON report and plot.

A target is a figure (a time, a size, a rate) checked against a goal and
printed as met or NOT met. A scenario verdict says whether a part of the run
did what it was meant to (bookings completed and stored, no failed request,
apology or lost booking): any part that did not is a FAIL, and the bench
exits non-zero, since its figures then measure a broken run. Everything but
``plot`` is pure, so what a reader sees is unit-tested.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.bench.stats import ratio

MODELS = ("ours", "stock")


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    fmt: str = "{:.1f}"


@dataclass(frozen=True)
class Target:
    """A goal for one figure: issue 5's, recovery issue 25's, reload and
    drain set with them (issue 24) from what a rolling restart should cost."""

    key: str
    op: str
    limit: float
    text: str

    def check(self, metrics: dict) -> dict:
        value = lookup(metrics, self.key)
        compare = {"<=": operator.le, ">=": operator.ge}[self.op]
        return {
            "metric": self.key,
            "target": self.text,
            "value": value,
            "passed": None if value is None else bool(compare(value, self.limit)),
        }


TARGETS = (
    Target("levels.1.p50_ms", "<=", 20, "≤ 20 ms"),
    Target("levels.1.p95_ms", "<=", 40, "≤ 40 ms"),
    Target("levels.50.throughput_per_s", ">=", 100, "≥ 100/s"),
    Target("levels.50.p95_ms", "<=", 500, "≤ 500 ms"),
    Target("memory_mb.rasa_per_process_peak", "<=", 650, "≤ 650 MB"),
    Target("training_seconds", "<=", 90, "≤ 90 s"),
    Target("first_answer_seconds", "<=", 10, "≤ 10 s"),
    # kill -9 under a booking load: back to serving (issue 25).
    Target("failover.worst_recovery_seconds", "<=", 10, "≤ 10 s"),
    # `bot cluster reload`: each instance out of nginx until it serves again
    # (a graceful stop and a model load, about one recovery).
    Target("reload.slowest_instance_seconds", "<=", 15, "≤ 15 s"),
    # SIGTERM to an instance with messages in flight: stopped, serving again.
    Target("drain.stop_seconds", "<=", 5, "≤ 5 s"),
    Target("drain.back_serving_seconds", "<=", 10, "≤ 10 s"),
)


def lookup(metrics: dict, key: str):
    """``metrics["levels"]["1"]["p50_ms"]`` for ``"levels.1.p50_ms"``, or None."""
    value = metrics
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def rows(levels: Sequence[int]) -> list[Row]:
    per_level = []
    for n in levels:
        users = f"{n} user{'s' if n != 1 else ''}"
        per_level += [
            Row(f"levels.{n}.p50_ms", f"p50 latency, {users} (ms)"),
            Row(f"levels.{n}.p95_ms", f"p95 latency, {users} (ms)"),
            Row(f"levels.{n}.p99_ms", f"p99 latency, {users} (ms)"),
            Row(f"levels.{n}.throughput_per_s", f"throughput, {users} (msg/s)"),
            Row(f"levels.{n}.error_rate", f"error rate, {users}", "{:.2%}"),
            Row(
                f"levels.{n}.apology_rate",
                f"action failed/slow apology, {users}",
                "{:.2%}",
            ),
        ]
    return per_level + [
        Row(
            "memory_mb.rasa_per_process_peak", "Rasa server peak RSS, per process (MB)"
        ),
        Row("memory_mb.rasa_total_peak", "Rasa servers peak RSS, all (MB)"),
        Row("memory_mb.action_server_peak", "action server peak RSS (MB)"),
        Row("first_answer_seconds", "first answer after start (s)"),
        Row("training_seconds", "training (s)"),
        Row("model_mb", "model size (MB)"),
        Row("holdout_accuracy", "held-out accuracy", "{:.3f}"),
        Row(
            "failover.completed_share",
            "failover: bookings completed under kill -9",
            "{:.1%}",
        ),
        Row(
            "failover.worst_recovery_seconds",
            "failover: slowest return to serving (s)",
        ),
        Row("failover.lost", "failover: bookings lost", "{:.0f}"),
        Row(
            "reload.slowest_instance_seconds",
            "reload: slowest instance out of nginx (s)",
        ),
        Row("reload.seconds", "reload: whole cluster (s)"),
        Row("drain.stop_seconds", "SIGTERM: until the instance stopped (s)"),
        Row("drain.back_serving_seconds", "SIGTERM: until it serves again (s)"),
    ]


def check_targets(metrics: dict) -> list[dict]:
    return [target.check(metrics) for target in TARGETS]


def build_report(settings: dict, models: dict[str, dict]) -> dict:
    """Every figure of both models, their ratios, the targets, the settings."""
    levels = settings["levels"]
    ours, stock = models.get("ours", {}), models.get("stock", {})
    return {
        "settings": settings,
        "models": models,
        "ratios_ours_to_stock": {
            row.key: ratio(lookup(ours, row.key), lookup(stock, row.key))
            for row in rows(levels)
        },
        "targets": {name: check_targets(models[name]) for name in models},
    }


def _level_problems(level: dict) -> list[str]:
    found = []
    if level.get("requests") == 0:
        found.append("no request measured")
    if level.get("errors"):
        kinds = level.get("errors_by_kind") or {}
        found.append(f"{level['errors']} of {level.get('requests')} failed {kinds}")
    if level.get("apologies"):
        found.append(f"{level['apologies']} apologies for a failed action")
    return found


def _booking_problems(bookings: dict) -> list[str]:
    confirmed = bookings["confirmed_in_replies"]
    found = []
    if bookings["stored"] < confirmed:
        found.append(f"{confirmed} confirmed but {bookings['stored']} stored")
    if bookings["emails_received"] < confirmed:
        found.append(f"{confirmed} confirmed but {bookings['emails_received']} emails")
    return found


def scenarios(report: dict) -> dict[str, list[str]]:
    """Each part of the run that was measured, with what went wrong in it
    (an empty list: the part did what it was meant to)."""
    parts: dict[str, list[str]] = {}
    for name, metrics in report["models"].items():
        parts[f"{name}: serving"] = [metrics["error"]] if "error" in metrics else []
        for users, level in metrics.get("levels", {}).items():
            plural = "" if str(users) == "1" else "s"
            parts[f"{name}: load, {users} user{plural}"] = _level_problems(level)
        if "bookings" in metrics:
            parts[f"{name}: bookings"] = _booking_problems(metrics["bookings"])
        for part in ("failover", "reload", "drain"):
            if part in metrics:
                parts[f"{name}: {part}"] = list(metrics[part].get("problems", []))
    if "long_conversation" in report:
        parts["long conversation"] = list(report["long_conversation"]["problems"])
    return parts


def exit_code(report: dict) -> int:
    """Non-zero when any part of the run failed its own scenario."""
    return 1 if any(scenarios(report).values()) else 0


def format_scenarios(report: dict) -> str:
    """One line per part, ``ok`` or ``FAIL`` with why, then the verdict."""
    parts = scenarios(report)
    width = max((len(part) for part in parts), default=0)
    lines = [
        f"{part.ljust(width)}  " + ("FAIL: " + "; ".join(found) if found else "ok")
        for part, found in parts.items()
    ]
    failed = sum(bool(found) for found in parts.values())
    lines.append(f"FAIL: {failed} of {len(parts)} parts" if failed else "every part ok")
    return "\n".join(lines)


def _cell(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _verdict(passed: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "n/a"}[passed]


def format_table(report: dict) -> str:
    """Rows: the metrics; columns: ours, stock, their ratio, and the target
    with ours checked against it (met / NOT met)."""
    models = report["models"]
    ours, stock = models.get("ours", {}), models.get("stock", {})
    targets = {t["metric"]: t for t in report["targets"].get("ours", [])}
    header = ("metric", "ours", "stock", "ours/stock", "target", "ours vs target")
    lines = []
    for row in rows(report["settings"]["levels"]):
        ours_cell = _cell(lookup(ours, row.key), row.fmt)
        if row.key == "training_seconds" and ours.get("training_reused"):
            ours_cell += " (recorded)"
        stock_cell = _cell(lookup(stock, row.key), row.fmt)
        if row.key == "training_seconds" and stock.get("training_reused"):
            stock_cell += " (recorded)"
        target = targets.get(row.key)
        lines.append(
            (
                row.label,
                ours_cell,
                stock_cell,
                _cell(report["ratios_ours_to_stock"].get(row.key), "{:.2f}×"),
                target["target"] if target else "",
                _verdict(target["passed"]) if target else "",
            )
        )
    widths = [max(len(r[i]) for r in (header, *lines)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in lines)])


def plot(report: dict, path: Path) -> Path:
    """p50 and p95 latency against concurrent users, both models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    levels = report["settings"]["levels"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, colour in zip(MODELS, ("tab:blue", "tab:orange"), strict=True):
        metrics = report["models"].get(name)
        if not metrics:
            continue
        for stat, style in (("p50_ms", "-o"), ("p95_ms", "--s")):
            values = [lookup(metrics, f"levels.{n}.{stat}") for n in levels]
            points = [(n, v) for n, v in zip(levels, values, strict=True) if v]
            if points:
                ax.plot(
                    *zip(*points, strict=True),
                    style,
                    color=colour,
                    label=f"{name} {stat.split('_')[0]}",
                )
    ax.plot(
        [1, 1, 50],
        [20, 40, 500],
        "x",
        color="grey",
        markersize=9,
        label="targets (1 user p50, p95; 50 users p95)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xticks(levels)
    ax.set_xticklabels([str(n) for n in levels])
    ax.set_xlabel("concurrent users")
    ax.set_ylabel("latency (ms)")
    settings = report["settings"]
    ax.set_title(
        f"REST webhook latency against concurrent users\n{settings['serving']}, "
        f"{settings['cpu_count']} cores, {settings['date'][:10]}",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
