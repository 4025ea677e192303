"""The benchmark's table, targets, JSON report and plot.

Everything but ``plot`` is pure, so the figures a reader sees are unit-tested.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.bench.stats import ratio

MODELS = ("ours", "stock")


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    fmt: str = "{:.1f}"


@dataclass(frozen=True)
class Target:
    """A goal from issue 5, checked against one figure."""

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
    Target("levels.50.error_rate", "<=", 0, "no errors"),
    Target("memory_mb.rasa_per_process_peak", "<=", 650, "≤ 650 MB"),
    Target("training_seconds", "<=", 90, "≤ 90 s"),
    Target("first_answer_seconds", "<=", 10, "≤ 10 s"),
    # Issue 13: kill -9 under a booking load.
    Target("failover.completed_share", ">=", 0.99, "≥ 99 %"),
    Target("failover.worst_recovery_seconds", "<=", 15, "≤ 15 s"),
    Target("failover.lost", "<=", 0, "none"),
    Target("failover.stored_twice", "<=", 0, "none"),
    Target("failover.empty_replies", "<=", 0, "none"),
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
        Row("failover.lost", "failover: bookings lost / stored twice", "{:.0f}"),
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


def _cell(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def format_table(report: dict) -> str:
    """Rows: the metrics; columns: ours, stock, their ratio, and issue 5's
    target with ours checked against it."""
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
