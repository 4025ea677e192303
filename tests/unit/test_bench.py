"""The benchmark's pure parts: statistics, ratios, targets, table, scripts."""

from __future__ import annotations

import random
from pathlib import Path

import numpy
import pytest
import yaml

from bot import PROJECT_ROOT
from bot.bench.load import APOLOGISED, FAQ_QUESTIONS, conversation
from bot.bench.report import (
    TARGETS,
    build_report,
    check_targets,
    format_table,
    lookup,
    rows,
)
from bot.bench.servers import MemorySampler, action_failures, role, server_roles
from bot.bench.stats import Sample, percentile, ratio, summarize
from bot.rasa.resilience import apology_text

SETTINGS = {"levels": [1, 10, 50]}


def level(p50, p95, throughput=0.0, error_rate=0.0) -> dict:
    return {
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p95,
        "throughput_per_s": throughput,
        "error_rate": error_rate,
    }


def model(**overrides) -> dict:
    metrics = {
        "levels": {
            "1": level(15, 30, 60),
            "10": level(80, 150, 110),
            "50": level(300, 450, 120),
        },
        "memory_mb": {"rasa_per_process_peak": 600.0, "action_server_peak": 200.0},
        "first_answer_seconds": 8.0,
        "training_seconds": 80.0,
        "model_mb": 40.0,
        "holdout_accuracy": 0.95,
        "training_reused": False,
        "failover": {
            "completed_share": 0.995,
            "worst_recovery_seconds": 12.0,
            "lost": 0,
            "stored_twice": 0,
            "empty_replies": 0,
        },
    }
    metrics.update(overrides)
    return metrics


def test_percentile_interpolates_like_numpy():
    values = [random.Random(7).uniform(1, 500) for _ in range(257)]
    for q in (0, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(numpy.percentile(values, q))


def test_percentile_small_and_edge_cases():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([4, 1, 3, 2], 0) == 1
    assert percentile([4, 1, 3, 2], 100) == 4
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def test_summarize_measures_only_the_window():
    samples = [
        Sample(0.5, 0.6),  # warm-up: ignored
        Sample(1.0, 1.010),
        Sample(2.0, 2.030, apology=True),
        Sample(3.0, 3.5, "timeout"),
        Sample(4.0, 4.002, "empty_reply"),
        Sample(10.5, 12.0),  # started in the window, answered after it
        Sample(11.5, 11.6),  # after the window: ignored
    ]
    summary = summarize(samples, 1.0, 11.0)
    assert summary["requests"] == 5
    assert (summary["ok"], summary["errors"]) == (3, 2)
    assert summary["error_rate"] == pytest.approx(0.4)
    assert summary["errors_by_kind"] == {"empty_reply": 1, "timeout": 1}
    assert summary["apologies"] == 1 and summary["apology_rate"] == pytest.approx(0.2)
    assert summary["p50_ms"] == pytest.approx(30.0)
    assert summary["max_ms"] == pytest.approx(1500.0)
    assert summary["throughput_per_s"] == pytest.approx(0.2)
    assert summary["window_seconds"] == 10.0


def test_summarize_without_requests():
    summary = summarize([], 0.0, 5.0)
    assert summary["requests"] == 0 and summary["error_rate"] is None
    assert summary["p95_ms"] is None and summary["throughput_per_s"] == 0.0


def test_ratio():
    assert ratio(50, 200) == 0.25
    assert ratio(None, 2) is None and ratio(2, None) is None
    assert ratio(3, 0) is None


def test_lookup_follows_dotted_keys():
    metrics = model()
    assert lookup(metrics, "levels.50.p95_ms") == 450
    assert lookup(metrics, "levels.5.p95_ms") is None
    assert lookup(metrics, "memory_mb.rasa_per_process_peak") == 600.0


def test_targets_pass_when_met():
    checks = check_targets(model())
    assert len(checks) == len(TARGETS)
    assert all(c["passed"] for c in checks), checks


@pytest.mark.parametrize(
    "overrides, failing",
    [
        ({"training_seconds": 91.0}, "training_seconds"),
        ({"first_answer_seconds": 10.5}, "first_answer_seconds"),
        ({"memory_mb": {"rasa_per_process_peak": 651.0}}, "memory_mb"),
        (
            {
                "failover": {
                    "completed_share": 0.98,
                    "worst_recovery_seconds": 15.5,
                    "lost": 1,
                    "stored_twice": 1,
                    "empty_replies": 2,
                }
            },
            "failover",
        ),
    ],
)
def test_a_missed_target_fails_alone(overrides, failing):
    checks = check_targets(model(**overrides))
    assert [c["metric"] for c in checks if not c["passed"]] == [
        t.key for t in TARGETS if t.key.startswith(failing)
    ]


def test_load_targets():
    metrics = model()
    metrics["levels"]["1"] = level(21, 30, 50)
    metrics["levels"]["50"] = level(300, 501, 99.9, error_rate=0.001)
    failed = {c["metric"] for c in check_targets(metrics) if not c["passed"]}
    assert failed == {
        "levels.1.p50_ms",
        "levels.50.p95_ms",
        "levels.50.throughput_per_s",
        "levels.50.error_rate",
    }


def test_a_level_not_run_is_not_judged():
    metrics = model()
    del metrics["levels"]["50"]
    checks = {c["metric"]: c["passed"] for c in check_targets(metrics)}
    assert checks["levels.50.p95_ms"] is None
    assert checks["levels.1.p50_ms"] is True


def test_report_has_ratios_and_targets_for_both_models():
    stock = model(training_seconds=800.0, holdout_accuracy=0.9)
    report = build_report(SETTINGS, {"ours": model(), "stock": stock})
    assert report["ratios_ours_to_stock"]["training_seconds"] == pytest.approx(0.1)
    assert report["ratios_ours_to_stock"]["levels.1.p50_ms"] == 1.0
    assert set(report["ratios_ours_to_stock"]) == {r.key for r in rows([1, 10, 50])}
    assert set(report["targets"]) == {"ours", "stock"}
    stock_training = next(
        c for c in report["targets"]["stock"] if c["metric"] == "training_seconds"
    )
    assert stock_training["passed"] is False


def test_table_shows_both_models_ratio_and_verdicts():
    ours = model(training_seconds=120.0, training_reused=True)
    ours["levels"]["50"]["p95_ms"] = None
    report = build_report(SETTINGS, {"ours": ours, "stock": model()})
    table = format_table(report)
    lines = {line.split("  ")[0]: line for line in table.splitlines()}
    training = lines["training (s)"]
    assert "120.0 (recorded)" in training and "1.50×" in training
    assert training.split()[-4:] == ["≤", "90", "s", "FAIL"]
    assert lines["p50 latency, 1 user (ms)"].split()[-4:] == ["≤", "20", "ms", "PASS"]
    p95 = lines["p95 latency, 50 users (ms)"]
    assert "–" in p95 and p95.endswith("n/a")
    assert "2.00%" not in table and "0.00%" in table
    assert lines["model size (MB)"].split()[-1] == "1.00×"


def test_a_visitor_asks_two_or_three_faq_questions():
    for seed in range(50):
        messages = conversation(random.Random(seed), booking_probability=0)
        assert 2 <= len(messages) <= 3
        assert set(messages) <= set(FAQ_QUESTIONS)
        assert len(set(messages)) == len(messages)


def test_a_booking_follows_the_form():
    messages = conversation(random.Random(1), booking_probability=1)
    booking = messages[messages.index("/book_appointment") :]
    assert len(booking) == 7
    assert booking[3:5] == ["skip", "any time"] and booking[-1] == "yes"


@pytest.mark.parametrize("action", ["validate_booking_form", "action_submit_booking"])
def test_the_action_apology_is_recognised(action):
    assert APOLOGISED and APOLOGISED in apology_text(action)


def test_the_same_seed_gives_the_same_scripts():
    first = [conversation(random.Random("s-1"), 0.3) for _ in range(5)]
    again = [conversation(random.Random("s-1"), 0.3) for _ in range(5)]
    assert first == again


@pytest.mark.parametrize(
    "cmdline, expected",
    [
        (["/v/bin/python", "-m", "bot.rasa.server", "run", "--port", "1"], "rasa"),
        (
            ["/v/bin/python", "/v/bin/rasa", "run", "actions", "--actions"],
            "action_server",
        ),
        (["/v/bin/python", "-m", "rasa_sdk", "--actions", "a"], "action_server"),
        (["/v/bin/python", "-m", "bot.web"], "website"),
        (["nginx: master process /usr/sbin/nginx -p /tmp/x"], "nginx"),
        (["nginx: worker process"], "nginx"),
        (["/v/bin/python", "-m", "bot", "cluster", "--instances", "2"], "supervisor"),
        (["/usr/bin/redis-server"], None),
    ],
)
def test_process_roles(cmdline, expected):
    assert role(cmdline) == expected


def test_forks_of_a_server_are_not_servers():
    rasa = ["/v/bin/python", "-m", "bot.rasa.server", "run"]
    processes = [
        (10, 1, ["/v/bin/python", "-m", "bot", "cluster"]),
        (11, 10, rasa),
        (12, 10, rasa),
        (13, 11, rasa),  # fork before exec
        (14, 13, rasa),  # and its own fork
        (15, 12, ["/bin/sh", "-c", "uname -p"]),
        (16, 10, ["nginx: master process /usr/sbin/nginx"]),
        (17, 16, ["nginx: worker process"]),
        (18, 10, ["/v/bin/python", "/v/bin/rasa", "run", "actions"]),
    ]
    assert server_roles(processes) == {
        10: "supervisor",
        11: "rasa",
        12: "rasa",
        16: "nginx",
        18: "action_server",
    }


def test_memory_summary_per_process_and_total():
    sampler = MemorySampler(root=0)
    sampler.peaks = {
        1: {"role": "rasa", "hwm_kb": 600 * 1024},
        2: {"role": "rasa", "hwm_kb": 512 * 1024},
        3: {"role": "action_server", "hwm_kb": 256 * 1024},
    }
    sampler.total_peak_kb = {"rasa": 1100 * 1024}
    summary = sampler.summary()
    assert summary["rasa_per_process_peak"] == 600.0
    assert summary["rasa_processes_peak"] == [600.0, 512.0]
    assert summary["rasa_total_peak"] == 1100.0
    assert summary["action_server_peak"] == 256.0


def test_stock_config_is_rasas_default():
    """Only the assistant id may differ from Rasa 3.6's own default config."""
    import rasa.engine.recipes

    default = Path(rasa.engine.recipes.__file__).parent / "config_files"
    rasa_default = yaml.safe_load((default / "default_config.yml").read_text())
    ours = yaml.safe_load((PROJECT_ROOT / "bench/stock_config.yml").read_text())
    assert ours.pop("assistant_id") != rasa_default.pop("assistant_id")
    assert ours == rasa_default


def test_action_failures_are_counted_from_the_log():
    log = (
        "2026-11-24 04:41:14 ERROR    bot.rasa.resilience  - custom action "
        "validate_booking_form failed (TimeoutError: ); apologising\n"
        "2026-11-24 04:41:15 INFO     rasa.core  - something else\n"
        "2026-11-24 04:41:16 ERROR    bot.rasa.resilience  - custom action "
        "validate_booking_form failed (TimeoutError: ); apologising\n"
        "2026-11-24 04:41:17 ERROR    bot.rasa.resilience  - custom action "
        "action_submit_booking failed (ClientConnectorError: refused); apologising\n"
    )
    assert action_failures(log) == {
        "action_submit_booking ClientConnectorError": 1,
        "validate_booking_form TimeoutError": 2,
    }
    assert action_failures("") == {}


def test_the_long_conversation_proxy_counts_and_forwards_action_calls():
    import asyncio
    import threading

    import requests
    from aiohttp import web

    from bot.bench.long import CountingProxy

    received = []

    async def action_server(request):
        received.append(await request.read())
        return web.json_response({"events": [], "responses": []})

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state = {}

    def serve():
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_post("/webhook", action_server)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        state["port"] = site._server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    assert ready.wait(10)
    proxy = CountingProxy(f"http://127.0.0.1:{state['port']}/webhook")
    proxy.start_in_thread()
    try:
        proxy.turn = 7
        body = b'{"next_action": "action_x", "tracker": {"events": []}}'
        answer = requests.post(f"http://127.0.0.1:{proxy.port}/webhook", data=body)
        assert answer.json() == {"events": [], "responses": []}
        assert received == [body] and proxy.calls == [(7, len(body))]
    finally:
        proxy.stop_thread()
        loop.call_soon_threadsafe(loop.stop)


def test_the_long_conversation_result_reads_as_a_row():
    from bot.bench.long import format_result

    result = {
        "conversations": 3,
        "turns": 100,
        "p50_ms_turns_1_to_10": 18.9,
        "p50_ms_turns_91_to_100": 21.8,
        "ratio": 1.15,
        "met": True,
        "action_bytes_turn_1": 4555,
        "action_bytes_turn_100": 61139,
        "bookings_completed": 3,
    }
    line = format_result(result)
    assert "x1.15" in line and "met" in line and "61139 B at turn 100" in line
