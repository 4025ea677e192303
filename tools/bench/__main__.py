"""``make bench``: our configuration against Rasa's stock one, same data, same
serving, one run. See docs/benchmark.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from bot import PROJECT_ROOT
from bot.ops.localhost import create_database, drop_database, stored_bookings
from tools.bench import chaos, long
from tools.bench.load import first_answer, run_level
from tools.bench.report import (
    build_report,
    exit_code,
    format_scenarios,
    format_table,
    plot,
)
from tools.bench.servers import (
    Deployment,
    Mailbox,
    MemorySampler,
    action_failures,
    holdout_accuracy,
    train,
    training_fingerprint,
)
from tools.bench.stats import summarize

CONFIGS = {"ours": Path("config.yml"), "stock": Path("tools/bench/stock_config.yml")}
MODEL_DIR = PROJECT_ROOT / "build" / "bench"
TRAINING_RECORD = MODEL_DIR / "training.json"
START_TIMEOUT = 300


def say(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description="Latency, throughput, memory, start-up, training time and "
        "held-out accuracy of our model against Rasa's stock configuration. "
        "Exits 1 when any part of the run fails its own scenario.",
    )
    parser.add_argument("--instances", type=int, default=2, help="Rasa instances")
    parser.add_argument(
        "--single", action="store_true", help="serve with `bot serve` (SQLite)"
    )
    parser.add_argument(
        "--reuse-models",
        action="store_true",
        help="skip training when build/bench has both models and their times",
    )
    parser.add_argument("--levels", default="1,10,50", help="concurrent users")
    parser.add_argument("--duration", type=float, default=60, help="s per level")
    parser.add_argument("--warmup", type=float, default=10, help="s per level")
    parser.add_argument("--timeout", type=float, default=10, help="s per request")
    parser.add_argument("--booking-probability", type=float, default=0.3)
    parser.add_argument("--seed", default="bench")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "results/bench")
    parser.add_argument(
        "--ours-only",
        action="store_true",
        help="skip Rasa's stock configuration (its training takes 10+ minutes)",
    )
    parser.add_argument(
        "--long-only",
        action="store_true",
        help="only the long conversation, on the current models/faq.tar.gz",
    )
    args = parser.parse_args(argv)
    args.levels = sorted({int(n) for n in args.levels.split(",")})
    if args.instances < 1 or min(args.levels) < 1:
        parser.error("--instances and --levels must be positive")
    return args


def prepare_models(
    reuse: bool, logs: Path, configs: dict[str, Path] = CONFIGS
) -> dict[str, dict]:
    """Train both models into build/bench (or reuse them), timing each.

    Other work may change the data meanwhile; each model is flagged when its
    inputs now differ from those it was trained on, so the two are known to
    have seen the same data."""
    record = json.loads(TRAINING_RECORD.read_text()) if TRAINING_RECORD.exists() else {}
    models = {}
    for name, config in configs.items():
        path = MODEL_DIR / f"{name}.tar.gz"
        fingerprint = training_fingerprint(config)
        reused = reuse and path.exists() and "seconds" in record.get(name, {})
        if reused:
            say(f"{name}: reusing {path.relative_to(PROJECT_ROOT)}")
        else:
            say(f"{name}: training with {config} (full, no cache)")
            seconds = train(config, name, MODEL_DIR, logs / f"train-{name}.log")
            changed = training_fingerprint(config) != fingerprint
            if changed:
                say(f"{name}: WARNING data or config changed while it trained")
            record[name] = {
                "seconds": round(seconds, 1),
                "config": str(config),
                "fingerprint": None if changed else fingerprint,
                "trained_at": datetime.now().astimezone().isoformat(),
            }
            TRAINING_RECORD.write_text(json.dumps(record, indent=2))
            say(f"{name}: trained in {seconds:.0f} s")
        size = path.stat().st_size
        models[name] = {
            "config": str(config),
            "model": str(path.relative_to(PROJECT_ROOT)),
            "model_bytes": size,
            "model_mb": round(size / 1e6, 1),
            "training_seconds": record[name]["seconds"],
            "training_reused": bool(reused),
            "trained_at": record[name]["trained_at"],
        }
    for name, config in configs.items():
        current = training_fingerprint(config)
        models[name]["training_inputs_changed"] = (
            record[name].get("fingerprint") != current
        )
    return models


def run_load(deployment: Deployment, args, name: str, run_id: str) -> dict:
    levels = {}
    for users in args.levels:
        run = asyncio.run(
            run_level(
                deployment.url,
                users,
                warmup=args.warmup,
                duration=args.duration,
                timeout=args.timeout,
                booking_probability=args.booking_probability,
                seed=f"{args.seed}-{users}",
                senders=f"bench-{run_id}-{name}-{users}",
            )
        )
        summary = {
            **summarize(run.samples, run.start, run.end),
            **run.counts,
            "load_average_1min_after": os.getloadavg()[0],
        }
        levels[str(users)] = summary
        say(
            f"{name}: {users:>3} users  p50 {summary['p50_ms']} ms  "
            f"p95 {summary['p95_ms']} ms  {summary['throughput_per_s']} msg/s  "
            f"errors {summary['errors']}/{summary['requests']} "
            f"{summary['errors_by_kind'] or ''} apologies {summary['apologies']}"
        )
        time.sleep(2)
    return levels


def serve_and_measure(
    name: str,
    model: Path,
    args,
    mailbox: Mailbox,
    services: tuple[str, str] | None,
    logs: Path,
) -> dict:
    """Start the deployment, time its first answer, load it level by level,
    and record memory, bookings and emails; always stop it again."""
    run_id = secrets.token_hex(3)
    root = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    # Hex, not token_urlsafe: a token starting with "-" reads as an option
    # to `rasa run --auth-token` and the server exits.
    token = f"bench-{secrets.token_hex(16)}"
    db_name = f"bench_{name}_{run_id}"
    database, redis = services or (None, None)
    database_url = (
        create_database(database, db_name) if database else f"sqlite:///{root}/c.db"
    )
    env = {
        **({"REDIS_URL": redis} if redis else {}),
        "MODEL_PATH": str(model),
        "TRACKER_DB": str(root / "conversations.db"),
        "BOOKING_SPOOL": str(root / "booking-spool.db"),
        "DATABASE_URL": database_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "CLINIC_SETTINGS": str(PROJECT_ROOT / "tests/fixtures/always_open.yml"),
    }
    deployment = Deployment(
        instances=None if args.single else args.instances,
        env=env,
        log=logs / f"serve-{name}.log",
        token=token,
    )
    emails_before = len(mailbox.messages)
    result: dict = {"database": db_name if database else "sqlite"}
    sampler = None
    try:
        say(f"{name}: starting {' '.join(deployment.command()[1:])}")
        deployment.start()
        sampler = MemorySampler(deployment.process.pid)
        sampler.start()
        deadline = deployment.started_at + START_TIMEOUT
        answered = asyncio.run(first_answer(deployment.url, deadline, deployment.alive))
        if answered is None:
            why = (
                f"no answer within {START_TIMEOUT} s"
                if deployment.alive()
                else "the servers exited before answering"
            )
            raise RuntimeError(f"{why}; see {deployment.log}")
        result["first_answer_seconds"] = round(answered - deployment.started_at, 2)
        if not deployment.all_ready(deadline):
            raise RuntimeError(f"not every instance came up; see {deployment.log}")
        result["all_instances_ready_seconds"] = round(
            time.monotonic() - deployment.started_at, 2
        )
        say(
            f"{name}: first answer after {result['first_answer_seconds']} s, "
            f"all instances ready after {result['all_instances_ready_seconds']} s"
        )
        result["levels"] = run_load(deployment, args, name, run_id)
        confirmed = sum(
            v.get("bookings_confirmed", 0) for v in result["levels"].values()
        )
        settle = time.monotonic() + 30
        while (
            len(mailbox.messages) - emails_before < confirmed
            and time.monotonic() < settle
        ):
            time.sleep(0.5)
        result["memory_mb"] = sampler.stop()
        sampler = None
        result["bookings"] = {
            "confirmed_in_replies": confirmed,
            "stored": stored_bookings(database_url),
            "emails_received": len(mailbox.messages) - emails_before,
        }
        if deployment.instances and name == "ours":
            result["failover"] = failover(deployment, root, database_url)
            result["reload"] = reload(deployment)
            result["drain"] = drain(deployment, root, database_url)
    except Exception as exc:  # recorded; the other model still runs
        say(f"{name}: FAILED: {exc}")
        result["error"] = str(exc)
    finally:
        if sampler:
            sampler.stop()
        deployment.stop()
        result["action_failures"] = action_failures(
            deployment.log.read_text(errors="replace")
            if deployment.log.exists()
            else ""
        )
        if database:
            drop_database(database, db_name)
        shutil.rmtree(root, ignore_errors=True)
    return result


def failover(deployment: Deployment, root: Path, database_url: str) -> dict:
    """The chaos test's run (tools/bench/chaos.py) on this deployment: kill -9
    of a Rasa instance, an action server, a Rasa instance while it starts."""
    action_port = int(deployment.env["ACTION_PORT"])
    rasa = [
        chaos.Target(f"rasa-{i}", f"{url}/")
        for i, url in enumerate(deployment.instance_urls, start=1)
    ]
    actions = [
        chaos.Target(f"actions-{i}", f"http://127.0.0.1:{action_port + i}/health")
        for i in (1, 2)
    ]
    say("ours: failover: booking load, then kill -9 of rasa-1, actions-1, rasa-2 x2")
    run_dir = root / f"run-{deployment.rasa_port}"
    spool = Path(deployment.env["BOOKING_SPOOL"])
    result = chaos.run(deployment.url, run_dir, database_url, rasa, actions, spool)
    say(f"ours: failover: {result.summary()}")
    return {
        "conversations": result.conversations,
        "completed_share": round(result.completed_share, 4),
        "retries": result.retries,
        "empty_replies": result.empty_replies,
        "worst_recovery_seconds": round(max(result.recoveries.values()), 1),
        "recoveries_seconds": {k: round(v, 1) for k, v in result.recoveries.items()},
        "stored_twice": result.stored_twice,
        "lost": result.lost,
        "problems": result.problems(),
    }


def reload(deployment: Deployment) -> dict:
    """The chaos test's reload (tools/bench/chaos.py): ``bot cluster reload``
    while patients book through nginx."""
    say("ours: reload: `bot cluster reload` under booking load")
    result = chaos.reload_under_load(deployment.url, deployment.env)
    say(f"ours: reload: {result.summary()}")
    return {
        "seconds": round(result.seconds, 1),
        "instances_seconds": {k: round(v, 1) for k, v in result.instances.items()},
        "slowest_instance_seconds": (
            round(max(result.instances.values()), 1) if result.instances else None
        ),
        "conversations": result.conversations,
        "retries": result.retries,
        "empty_replies": result.empty_replies,
        "failures": result.failures[:10],
        "problems": result.problems(),
    }


def drain(deployment: Deployment, root: Path, database_url: str) -> dict:
    """The chaos test's SIGTERM (tools/bench/chaos.py): rasa-1 told to stop
    with messages in flight."""
    say("ours: drain: SIGTERM to rasa-1 with messages in flight")
    target = chaos.Target("rasa-1", f"{deployment.instance_urls[0]}/")
    run_dir = root / f"run-{deployment.rasa_port}"
    result = chaos.sigterm_drain(
        deployment.instance_urls[0], run_dir, target, database_url
    )
    say(f"ours: drain: {result.summary()}")
    return {
        "messages": result.messages,
        "answered": result.answered,
        "answered_after_signal": result.answered_after_signal,
        "refused": result.refused,
        "stop_seconds": round(result.stop_seconds, 1),
        "back_serving_seconds": round(result.back_seconds, 1),
        "problems": result.problems(),
    }


def long_conversation(model: Path, logs: Path, conversations: int = 3) -> dict:
    """A fresh single-process deployment with a counting proxy in front of
    the action server: the proxy would slow the load test, so it gets its own."""
    root = Path(tempfile.mkdtemp(prefix="bench-long-"))
    token = f"bench-{secrets.token_hex(16)}"
    deployment = Deployment(
        instances=None,
        env={
            "MODEL_PATH": str(model),
            "TRACKER_DB": str(root / "conversations.db"),
            "BOOKING_SPOOL": str(root / "booking-spool.db"),
            "DATABASE_URL": f"sqlite:///{root}/clinic.db",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": "9",
            "CLINIC_SETTINGS": str(PROJECT_ROOT / "tests/fixtures/always_open.yml"),
        },
        log=logs / "serve-long.log",
        token=token,
    )
    proxy = long.CountingProxy(
        f"http://127.0.0.1:{deployment.env['ACTION_PORT']}/webhook"
    )
    proxy.start_in_thread()
    deployment.env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{proxy.port}/webhook"
    try:
        deployment.start()
        deadline = deployment.started_at + START_TIMEOUT
        if (
            asyncio.run(first_answer(deployment.url, deadline, deployment.alive))
            is None
        ):
            raise RuntimeError(f"no answer; see {deployment.log}")
        proxy.calls.clear()
        proxy.failures.clear()
        result = long.run(deployment.url, proxy, conversations)
    except Exception as exc:  # recorded as the part's failure; the rest runs
        result = {"conversations": conversations, "error": str(exc)}
        result["problems"] = long.problems(result)
    finally:
        deployment.stop()
        proxy.stop_thread()
        shutil.rmtree(root, ignore_errors=True)
    say(long.format_result(result))
    return result


def cluster_services() -> tuple[str, str]:
    """PostgreSQL and Redis servers for the deployments under test (started
    by scripts/ unless DATABASE_URL / REDIS_URL name others); each model then
    gets its own fresh database in that PostgreSQL server."""
    from bot.ops.cluster import exported_url

    urls = dict(os.environ)
    if not urls.get("DATABASE_URL"):
        urls["DATABASE_URL"] = exported_url("postgres.sh", {})
    if not urls.get("REDIS_URL"):
        urls["REDIS_URL"] = exported_url("redis.sh", {})
    base = urls["DATABASE_URL"]
    if not base.startswith("postgresql"):
        raise SystemExit(f"bot cluster needs PostgreSQL; DATABASE_URL is {base}")
    return base, urls["REDIS_URL"]


def settings(args, started: datetime) -> dict:
    def cpu_model() -> str:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
        return platform.processor()

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
    ).stdout.strip()
    serving = (
        "bot serve (1 Rasa process, SQLite)"
        if args.single
        else f"bot cluster, {args.instances} Rasa instances behind nginx, "
        "PostgreSQL, Redis"
    )
    return {
        "date": started.isoformat(timespec="seconds"),
        "serving": serving,
        "instances": 1 if args.single else args.instances,
        "single": args.single,
        "levels": args.levels,
        "warmup_seconds": args.warmup,
        "duration_seconds": args.duration,
        "request_timeout_seconds": args.timeout,
        "booking_probability": args.booking_probability,
        "seed": args.seed,
        "reuse_models": args.reuse_models,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gb": round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1
        ),
        "python": platform.python_version(),
        "rasa": version("rasa"),
        "git_commit": commit,
        "load_generator": "aiohttp, same machine as the servers",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, clock = datetime.now().astimezone(), time.monotonic()
    load_at_start = os.getloadavg()
    logs = args.output / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if args.long_only:
        result = long_conversation(PROJECT_ROOT / "models" / "faq.tar.gz", logs)
        (args.output / "long.json").write_text(json.dumps(result, indent=2))
        return 1 if result["problems"] else 0
    configs = {"ours": CONFIGS["ours"]} if args.ours_only else CONFIGS
    models = prepare_models(args.reuse_models, logs, configs)
    for name, metrics in models.items():
        say(f"{name}: scoring tests/nlu/holdout.yml")
        metrics["holdout_accuracy"] = holdout_accuracy(
            PROJECT_ROOT / metrics["model"],
            args.output / f"holdout-{name}.json",
            logs / f"holdout-{name}.log",
        )
    services = None if args.single else cluster_services()
    with Mailbox() as mailbox:
        for name, metrics in models.items():
            metrics.update(
                serve_and_measure(
                    name, PROJECT_ROOT / metrics["model"], args, mailbox, services, logs
                )
            )
    long_result = long_conversation(PROJECT_ROOT / models["ours"]["model"], logs)
    run_settings = settings(args, started)
    run_settings["run_seconds"] = round(time.monotonic() - clock, 1)
    run_settings["load_average_at_start"] = load_at_start
    run_settings["load_average_at_end"] = os.getloadavg()
    report = build_report(run_settings, models)
    report["long_conversation"] = long_result
    args.output.mkdir(parents=True, exist_ok=True)
    report_path = args.output / "report.json"
    report_path.write_text(json.dumps(report, indent=2))
    plot_path = plot(report, args.output / "latency.png")
    print(
        f"\n{run_settings['serving']}; {run_settings['cpu_count']} cores; "
        f"{args.duration:g} s per level after {args.warmup:g} s warm-up; "
        f"run took {run_settings['run_seconds'] / 60:.1f} min"
    )
    print(format_table(report))
    for name, metrics in models.items():
        notes = []
        if metrics.get("training_reused"):
            notes.append(f"training time recorded {metrics['trained_at']}")
        if metrics.get("training_inputs_changed"):
            notes.append("data or config changed during or since its training")
        if "bookings" in metrics:
            b = metrics["bookings"]
            notes.append(
                f"bookings confirmed {b['confirmed_in_replies']}, stored "
                f"{b['stored']}, emails {b['emails_received']}"
            )
        if metrics.get("action_failures"):
            notes.append(f"action calls given up on {metrics['action_failures']}")
        if "error" in metrics:
            notes.append(f"error: {metrics['error']}")
        print(f"{name}: " + "; ".join(notes))
    print(long.format_result(long_result))
    print(f"\n{format_scenarios(report)}")
    print(f"\nreport: {report_path}\nplot:   {plot_path}")
    return exit_code(report)


if __name__ == "__main__":
    sys.exit(main())
