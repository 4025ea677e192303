"""The benchmark's pure parts: statistics, ratios, targets, table, scripts,
and the scenario verdicts that make a broken run FAIL."""

from __future__ import annotations

import random
from pathlib import Path

import numpy
import pytest
import yaml

from bot import PROJECT_ROOT
from bot.rasa.resilience import apology_text
from tools.bench.load import APOLOGISED, FAQ_QUESTIONS, conversation
from tools.bench.report import (
    TARGETS,
    build_report,
    check_targets,
    exit_code,
    format_scenarios,
    format_table,
    lookup,
    rows,
    scenarios,
)
from tools.bench.servers import MemorySampler, action_failures, role, server_roles
from tools.bench.stats import Sample, percentile, ratio, summarize

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
            "worst_recovery_seconds": 8.0,
            "lost": 0,
            "stored_twice": 0,
            "empty_replies": 0,
            "problems": [],
        },
        "reload": {"seconds": 25.0, "slowest_instance_seconds": 12.0, "problems": []},
        "drain": {"stop_seconds": 1.5, "back_serving_seconds": 8.0, "problems": []},
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
        ({"failover": {"worst_recovery_seconds": 10.5}}, "failover"),
        ({"reload": {"slowest_instance_seconds": 15.5}}, "reload"),
        ({"drain": {"stop_seconds": 6.0, "back_serving_seconds": 11.0}}, "drain"),
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
    assert training.split()[-5:] == ["≤", "90", "s", "NOT", "met"]
    assert lines["p50 latency, 1 user (ms)"].split()[-4:] == ["≤", "20", "ms", "met"]
    assert "FAIL" not in table and "PASS" not in table
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
    ours = yaml.safe_load((PROJECT_ROOT / "tools/bench/stock_config.yml").read_text())
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


@pytest.fixture
def action_server():
    """A stand-in action server that, like ours, refuses a call without the
    secret; the URL of its webhook and the bodies it accepted."""
    import asyncio
    import threading

    from aiohttp import web

    accepted = []

    async def webhook(request):
        if request.headers.get("Authorization") != "Bearer s3cret":
            return web.json_response({"error": "unauthorised"}, status=401)
        accepted.append(await request.read())
        return web.json_response({"events": [], "responses": []})

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state = {}

    def serve():
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        state["port"] = site._server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{state['port']}/webhook", accepted
    loop.call_soon_threadsafe(loop.stop)


def test_the_long_conversation_proxy_passes_the_secret_on_and_counts(action_server):
    """The bench's long conversation once failed every action call: its proxy
    dropped Rasa's Authorization header, so the action server refused each."""
    import requests

    from tools.bench.long import CountingProxy

    url, accepted = action_server
    proxy = CountingProxy(url)
    proxy.start_in_thread()
    try:
        proxy.turn = 7
        body = b'{"next_action": "action_x", "tracker": {"events": []}}'
        answer = requests.post(
            f"http://127.0.0.1:{proxy.port}/webhook",
            data=body,
            headers={"Authorization": "Bearer s3cret"},
        )
        assert answer.json() == {"events": [], "responses": []}
        assert accepted == [body] and proxy.calls == [(7, len(body))]
        assert proxy.failures == []
        proxy.turn = 8
        refused = requests.post(f"http://127.0.0.1:{proxy.port}/webhook", data=body)
        assert refused.status_code == 401
        assert proxy.failures == [(8, "HTTP 401")]
    finally:
        proxy.stop_thread()


def long_result(**overrides) -> dict:
    result = {
        "conversations": 3,
        "turns": 100,
        "p50_ms_turns_1_to_10": 18.9,
        "p50_ms_turns_91_to_100": 21.8,
        "ratio": 1.15,
        "met": True,
        "action_bytes_turn_1": 4555,
        "action_bytes_turn_100": 61139,
        "action_calls": 321,
        "action_calls_failed": 0,
        "action_failures": {},
        "bookings_completed": 3,
        "apologies": 0,
        "errors": [],
    }
    result.update(overrides)
    from tools.bench.long import problems

    result["problems"] = problems(result)
    return result


def test_the_long_conversation_result_reads_as_a_row():
    from tools.bench.long import format_result

    line = format_result(long_result())
    assert "x1.15" in line and "met" in line and "61139 B at turn 100" in line
    assert line.endswith("scenario ok")


def test_a_long_conversation_whose_actions_failed_is_a_fail_whatever_its_timing():
    """The run of the issue: x1.15, target met, while every action call
    failed and no booking completed."""
    from tools.bench.long import format_result

    result = long_result(
        action_calls_failed=321,
        action_failures={"HTTP 401": 321},
        bookings_completed=0,
        apologies=300,
    )
    assert result["problems"] == [
        "0 of 3 bookings completed",
        "321 of 321 action calls failed (HTTP 401 x321)",
        "300 apologies for a failed action",
    ]
    line = format_result(result)
    assert "target <= 1.5: met" in line and "FAIL: 0 of 3 bookings" in line
    report = {"models": {}, "long_conversation": result}
    assert exit_code(report) == 1
    assert "long conversation  FAIL: 0 of 3 bookings completed" in (
        format_scenarios(report)
    )


@pytest.mark.parametrize(
    "overrides, problem",
    [
        ({"bookings_completed": 2}, "2 of 3 bookings completed"),
        ({"action_calls": 0}, "no custom action call reached the action server"),
        ({"errors": ["turn 5: HTTP 500"]}, "1 requests failed"),
    ],
)
def test_each_way_a_long_conversation_goes_wrong_is_named(overrides, problem):
    assert any(p.startswith(problem) for p in long_result(**overrides)["problems"])


def test_a_long_conversation_that_did_not_run_fails():
    from tools.bench.long import format_result, problems

    result = {"conversations": 3, "error": "no answer; see serve-long.log"}
    result["problems"] = problems(result)
    assert format_result(result) == (
        "long conversation: FAIL: did not run: no answer; see serve-long.log"
    )


def full_report(**model_overrides) -> dict:
    ours = model(**model_overrides)
    for users in ours["levels"].values():
        users.update(requests=1000, errors=0, apologies=0)
    ours["bookings"] = {"confirmed_in_replies": 40, "stored": 40, "emails_received": 40}
    report = build_report(SETTINGS, {"ours": ours})
    report["long_conversation"] = long_result()
    return report


def test_a_run_where_every_part_worked_is_ok_and_exits_zero():
    report = full_report()
    assert all(found == [] for found in scenarios(report).values())
    assert set(scenarios(report)) == {
        "ours: serving",
        "ours: load, 1 user",
        "ours: load, 10 users",
        "ours: load, 50 users",
        "ours: bookings",
        "ours: failover",
        "ours: reload",
        "ours: drain",
        "long conversation",
    }
    assert format_scenarios(report).endswith("every part ok")
    assert exit_code(report) == 0


def test_a_missed_timing_target_is_not_met_but_no_failure():
    report = full_report(
        failover={"worst_recovery_seconds": 14.0, "lost": 0, "problems": []}
    )
    line = next(
        line
        for line in format_table(report).splitlines()
        if line.startswith("failover: slowest")
    )
    assert line.split()[-4:] == ["10", "s", "NOT", "met"]
    assert exit_code(report) == 0


@pytest.mark.parametrize(
    "change, part, problem",
    [
        (
            lambda r: r["models"]["ours"]["levels"]["50"].update(
                errors=3, errors_by_kind={"timeout": 3}
            ),
            "ours: load, 50 users",
            "3 of 1000 failed {'timeout': 3}",
        ),
        (
            lambda r: r["models"]["ours"]["levels"]["1"].update(apologies=2),
            "ours: load, 1 user",
            "2 apologies for a failed action",
        ),
        (
            lambda r: r["models"]["ours"]["bookings"].update(stored=39),
            "ours: bookings",
            "40 confirmed but 39 stored",
        ),
        (
            lambda r: r["models"]["ours"]["failover"].update(
                problems=["1 bookings shown to a patient but not stored"]
            ),
            "ours: failover",
            "1 bookings shown to a patient but not stored",
        ),
        (
            lambda r: r["models"]["ours"].update(error="not every instance came up"),
            "ours: serving",
            "not every instance came up",
        ),
    ],
)
def test_a_part_whose_scenario_failed_says_fail_and_exits_non_zero(
    change, part, problem
):
    report = full_report()
    change(report)
    assert scenarios(report)[part] == [problem]
    assert [p for p, found in scenarios(report).items() if found] == [part]
    assert f"FAIL: {problem}" in format_scenarios(report)
    assert format_scenarios(report).endswith("FAIL: 1 of 9 parts")
    assert exit_code(report) == 1


def test_the_bench_exits_non_zero_when_its_long_conversation_fails(
    monkeypatch, tmp_path
):
    """``python -m tools.bench --long-only`` returns the scenario's verdict,
    not the timing's: x1.15 against a 1.5 target, with no booking, is 1."""
    from tools.bench import __main__ as bench

    failed = long_result(bookings_completed=0)
    monkeypatch.setattr(bench, "long_conversation", lambda *_: failed)
    assert bench.main(["--long-only", "--output", str(tmp_path)]) == 1
    monkeypatch.setattr(bench, "long_conversation", lambda *_: long_result())
    assert bench.main(["--long-only", "--output", str(tmp_path)]) == 0


def chaos_result(**overrides):
    from tools.bench.chaos import ChaosResult

    figures = {
        "conversations": 60,
        "completed": 60,
        "retries": 3,
        "empty_replies": 0,
        "failures": [],
        "recoveries": {"rasa-1 killed": 9.0},
        "bookings_stored": 60,
        "stored_twice": 0,
        "lost": 0,
    }
    figures.update(overrides)
    return ChaosResult(**figures)


def test_a_slow_recovery_is_a_figure_but_never_serving_again_is_a_problem():
    assert chaos_result(recoveries={"rasa-1 killed": 16.0}).problems() == []
    assert chaos_result(recoveries={"rasa-1 killed": float("inf")}).problems() == [
        "rasa-1 killed did not serve again within 60 s (inf s)"
    ]


@pytest.mark.parametrize(
    "overrides, problem",
    [
        ({"lost": 1}, "1 bookings shown to a patient but not stored"),
        ({"stored_twice": 1}, "1 bookings stored twice"),
        ({"empty_replies": 2}, "2 empty replies"),
        ({"completed": 58}, "58 of 60 conversations completed (0.967 < 0.99)"),
    ],
)
def test_a_chaos_run_names_each_lost_or_broken_booking(overrides, problem):
    assert chaos_result(**overrides).problems() == [problem]


def test_a_reload_must_cost_the_patients_nothing():
    from tools.bench.chaos import ReloadResult

    figures = {
        "returncode": 0,
        "output": "",
        "seconds": 40.0,
        "instances": {"rasa-1": 18.0, "rasa-2": 19.0},
        "conversations": 12,
        "completed": 12,
        "retries": 0,
        "empty_replies": 0,
        "failures": [],
    }
    assert ReloadResult(**figures).problems() == []
    retried = ReloadResult(**{**figures, "retries": 1})
    assert retried.problems() == ["1 messages needed a retry"]


def test_a_drain_accepts_any_refusal_but_no_unanswered_message():
    from tools.bench.chaos import DrainResult

    figures = {
        "messages": 13,
        "answered": 9,
        "answered_after_signal": 4,
        "refused": {"connection refused": 2, "connection reset": 1, "503": 1},
        "failures": [],
        "unanswered": [],
        "stop_seconds": 1.2,
        "back_seconds": 20.0,
    }
    assert DrainResult(**figures).problems() == []
    lost = DrainResult(**{**figures, "unanswered": ["drain1-3"]})
    assert lost.problems() == ["1 messages taken in but not answered: ['drain1-3']"]
    idle = DrainResult(**{**figures, "answered_after_signal": 0})
    assert idle.problems() == ["no message was in flight at the SIGTERM"]
