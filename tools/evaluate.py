"""Evaluate the trained model on the held-out sets.

Prints per-intent precision/recall, the most frequent confusions and the
misclassified messages, and fails below the required accuracy. Then the
safety lists (every true emergency must be recognised; ordinary mentions of
pain, chest or breath must not be) and the two-questions list (both answered,
in order). Then the real-questions set (questions people asked on other
clinics' pages and forums) with its own accuracy floor, and the safety list:
no question about a group or condition that may change whether needling is
safe may get one of the article's answers. Refuses to run when a held-out
message also appears in the training data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot import PROJECT_ROOT

FALLBACK = "nlu_fallback"
EMERGENCY = "emergency"
HELD_OUT = PROJECT_ROOT / "tests" / "nlu"
EMERGENCIES = HELD_OUT / "emergencies.yml"
NOT_EMERGENCIES = HELD_OUT / "not_emergencies.yml"
TWO_QUESTIONS = HELD_OUT / "two_questions.yml"
REAL_QUESTIONS = HELD_OUT / "real_questions.yml"
SAFETY_QUESTIONS = HELD_OUT / "safety_questions.yml"
# Issue 12's target. `make evaluate` passes a lower floor until it is met
# (docs/nlu.md, "NLU configuration, measured").
MIN_REAL_ACCURACY = 0.90
# A near-miss (an ordinary article question) sent to the physio costs the
# patient an answer, not safety; a few are tolerated.
MAX_NEAR_MISS_REFERRED = 0.10
REFER = "personal_advice"
# Recall on true emergencies is not negotiable; false alarms cost trust.
MIN_EMERGENCY_RECALL = 1.0
MIN_EMERGENCY_PRECISION = 0.95
MIN_BOTH_ANSWERED = 0.8
EXAMPLE = re.compile(r"^\s*-\s+(.*)$")


def read_examples(path: Path) -> list[tuple[str, str]]:
    """(text, intent) pairs of a Rasa NLU YAML file, entity markup removed."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf8")) or {}
    pairs = []
    for block in data.get("nlu", []):
        if "intent" not in block:
            continue
        for line in str(block.get("examples", "")).splitlines():
            match = EXAMPLE.match(line)
            if match:
                text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", match.group(1))
                text = re.sub(r"\[([^\]]+)\]\{[^}]*\}", r"\1", text)
                pairs.append((text.strip(), block["intent"]))
    return pairs


def read_list(path: Path, key: str = "examples") -> list[dict]:
    """The ``examples`` (or ``key``) of a held-out list."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf8")) or {}
    return list(data.get(key) or [])


def normalise(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def leaked(holdout: list[tuple[str, str]], training_dir: Path) -> list[str]:
    """Held-out messages that also occur in the training data."""
    training = {
        normalise(text)
        for path in sorted(Path(training_dir).rglob("*.yml"))
        for text, _ in read_examples(path)
    }
    return [text for text, _ in holdout if normalise(text) in training]


@dataclass
class Report:
    accuracy: float
    per_intent: dict[str, dict[str, float]]
    confusions: list[tuple[str, str, int]]
    errors: list[dict[str, object]]

    def as_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "per_intent": self.per_intent,
            "confusions": [
                {"true": t, "predicted": p, "count": n} for t, p, n in self.confusions
            ],
            "errors": self.errors,
        }


def score(
    gold: list[str], predicted: list[str], texts: list[str], confidences: list[float]
) -> Report:
    labels = sorted(set(gold))
    per_intent = {}
    for label in labels:
        tp = sum(
            1
            for g, p in zip(gold, predicted, strict=False)
            if g == label and p == label
        )
        fp = sum(
            1
            for g, p in zip(gold, predicted, strict=False)
            if g != label and p == label
        )
        fn = sum(
            1
            for g, p in zip(gold, predicted, strict=False)
            if g == label and p != label
        )
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0
        per_intent[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": tp + fn,
        }
    pairs = Counter((g, p) for g, p in zip(gold, predicted, strict=False) if g != p)
    errors = [
        {"text": t, "true": g, "predicted": p, "confidence": round(c, 3)}
        for t, g, p, c in zip(texts, gold, predicted, confidences, strict=False)
        if g != p
    ]
    correct = sum(1 for g, p in zip(gold, predicted, strict=False) if g == p)
    return Report(
        accuracy=correct / len(gold) if gold else 0.0,
        per_intent=per_intent,
        confusions=[(g, p, n) for (g, p), n in pairs.most_common()],
        errors=errors,
    )


async def predict(agent, texts: list[str]) -> list[dict]:
    """Predicted intent plus the classifier's own best guess behind a fallback."""
    results = []
    for text in texts:
        parsed = await agent.parse_message(text)
        intent = parsed.get("intent") or {}
        ranking = [
            r for r in parsed.get("intent_ranking") or [] if r["name"] != FALLBACK
        ]
        best = ranking[0] if ranking else intent
        second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
        results.append(
            {
                "intent": intent.get("name") or "",
                "confidence": float(intent.get("confidence") or 0),
                "best": best.get("name") or "",
                "best_confidence": float(best.get("confidence") or 0),
                "margin": float(best.get("confidence") or 0) - float(second),
            }
        )
    return results


def threshold_table(gold: list[str], predictions: list[dict]) -> list[dict]:
    """Accuracy and fallback rate had FallbackClassifier used other thresholds."""
    rows = []
    for threshold in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        hits = falls = 0
        for g, p in zip(gold, predictions, strict=False):
            if p["intent"] != p["best"] and p["intent"] != FALLBACK:
                predicted = p["intent"]
            elif p["best_confidence"] < threshold:
                predicted = FALLBACK
            else:
                predicted = p["best"]
            falls += predicted == FALLBACK
            hits += predicted == g
        rows.append(
            {
                "threshold": threshold,
                "accuracy": hits / len(gold),
                "fallback_rate": falls / len(gold),
            }
        )
    return rows


def print_report(report: Report) -> None:
    print(f"{'intent':32} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>4}")
    for label, m in report.per_intent.items():
        flag = "  <" if m["recall"] < 1 or m["precision"] < 1 else ""
        print(
            f"{label:32} {m['precision']:9.2f} {m['recall']:7.2f} "
            f"{m['f1']:6.2f} {m['support']:4d}{flag}"
        )
    print("\nConfusions (true -> predicted: count)")
    for true, pred, n in report.confusions or [("none", "none", 0)]:
        print(f"  {true} -> {pred}: {n}")
    print("\nMisclassified")
    for e in report.errors:
        print(f"  [{e['true']} -> {e['predicted']} {e['confidence']}] {e['text']}")
    print(f"\nHeld-out accuracy: {report.accuracy:.4f} ({len(report.errors)} misses)")


async def red_flag_report(agent, emergencies: list[str], ordinary: list[str]) -> dict:
    """Recall on true emergencies, precision against ordinary mentions."""
    missed = [
        t
        for t in emergencies
        if (await agent.parse_message(t))["intent"]["name"] != EMERGENCY
    ]
    false_alarms = [
        t
        for t in ordinary
        if (await agent.parse_message(t))["intent"]["name"] == EMERGENCY
    ]
    found = len(emergencies) - len(missed)
    flagged = found + len(false_alarms)
    return {
        "recall": found / len(emergencies) if emergencies else 1.0,
        "precision": found / flagged if flagged else 1.0,
        "emergencies": len(emergencies),
        "ordinary": len(ordinary),
        "missed": missed,
        "false_alarms": false_alarms,
    }


async def two_question_report(agent, examples: list[dict]) -> dict:
    """Share of two-question messages whose answers are both given, in order:
    the message is split as the channels split it, each part classified."""
    from bot.nlp.questions import split_questions

    failures = []
    for example in examples:
        parts = await split_questions(example["text"], agent.parse_message)
        answered = [(await agent.parse_message(p))["intent"]["name"] for p in parts]
        if answered != list(example["intents"]):
            failures.append(
                {
                    "text": example["text"],
                    "expected": example["intents"],
                    "got": answered,
                }
            )
    total = len(examples)
    return {
        "both_answered": (total - len(failures)) / total if total else 1.0,
        "messages": total,
        "failures": failures,
    }


async def safety_routing_report(
    agent, must_refer: list[dict], near_misses: list[dict]
) -> dict:
    """Safety questions that got an article answer (or anything but the
    physio), and near-misses wrongly sent to the physio."""
    not_referred = []
    for example in must_refer:
        name = (await agent.parse_message(example["text"]))["intent"]["name"]
        if name not in (REFER, EMERGENCY):
            not_referred.append({"text": example["text"], "predicted": name})
    referred = []
    kept = 0
    for example in near_misses:
        name = (await agent.parse_message(example["text"]))["intent"]["name"]
        kept += name == example["intent"]
        if name == REFER:
            referred.append({"text": example["text"], "expected": example["intent"]})
    return {
        "must_refer": len(must_refer),
        "not_referred": not_referred,
        "article_answers": [
            e for e in not_referred if e["predicted"].startswith("faq_")
        ],
        "near_misses": len(near_misses),
        "near_misses_kept": kept,
        "near_misses_referred": referred,
    }


def print_safety_routing(report: dict) -> None:
    referred = report["must_refer"] - len(report["not_referred"])
    print(
        f"\nSafety routing: {referred} of {report['must_refer']} sent to the physio; "
        f"{len(report['article_answers'])} got an article answer. Near misses: "
        f"{report['near_misses_kept']} of {report['near_misses']} kept their "
        f"intent, {len(report['near_misses_referred'])} sent to the physio"
    )
    for e in report["not_referred"]:
        print(f"  NOT REFERRED [{e['predicted']}]: {e['text']}")
    for e in report["near_misses_referred"]:
        print(f"  REFERRED [{e['expected']}]: {e['text']}")


def print_safety(report: dict) -> None:
    print(
        f"\nRed flags: recall {report['recall']:.3f} on {report['emergencies']} "
        f"emergencies, precision {report['precision']:.3f} "
        f"({len(report['false_alarms'])} false alarms in {report['ordinary']} "
        "ordinary messages)"
    )
    for text in report["missed"]:
        print(f"  MISSED: {text}")
    for text in report["false_alarms"]:
        print(f"  FALSE ALARM: {text}")


def print_two_questions(report: dict) -> None:
    print(
        f"\nTwo questions in one message: both answered in order for "
        f"{report['both_answered']:.3f} of {report['messages']}"
    )
    for failure in report["failures"]:
        print(f"  {failure['expected']} -> {failure['got']}: {failure['text']}")


def evaluate(
    holdout: Path,
    model_path: Path,
    min_accuracy: float,
    training_dir: Path = PROJECT_ROOT / "data" / "nlu",
    report_path: Path | None = None,
    min_real_accuracy: float = MIN_REAL_ACCURACY,
) -> int:
    examples = read_examples(holdout)
    emergencies = [e["text"] for e in read_list(EMERGENCIES)]
    ordinary = [e["text"] for e in read_list(NOT_EMERGENCIES)]
    two_questions = read_list(TWO_QUESTIONS)
    real = [(e["text"], e["intent"]) for e in read_list(REAL_QUESTIONS)]
    must_refer = read_list(SAFETY_QUESTIONS, "must_refer")
    near_misses = read_list(SAFETY_QUESTIONS, "must_not_refer")
    held_out = (
        examples
        + real
        + [
            (t, "")
            for t in emergencies
            + ordinary
            + [e["text"] for e in two_questions + must_refer + near_misses]
        ]
    )
    overlap = leaked(held_out, training_dir)
    if overlap:
        print("Held-out messages found in the training data:")
        for text in overlap:
            print(f"  {text}")
        return 2
    texts = [t for t, _ in examples]
    gold = [i for _, i in examples]
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    from bot.rasa import extensions

    # What the server runs (bot/rasa/extensions.py), so the scores are its scores.
    extensions.apply()
    # Without a configured level Rasa's structured log prints every parse.
    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model_path))
    predictions = asyncio.run(predict(agent, texts))
    report = score(
        gold,
        [p["intent"] for p in predictions],
        texts,
        [p["confidence"] for p in predictions],
    )
    print_report(report)
    thresholds = threshold_table(gold, predictions)
    print("\nFallback threshold sweep (same model, ambiguity check left out)")
    for row in thresholds:
        print(
            f"  threshold {row['threshold']:.1f}: accuracy {row['accuracy']:.4f}, "
            f"fallback {row['fallback_rate']:.3f}"
        )
    safety = asyncio.run(red_flag_report(agent, emergencies, ordinary))
    print_safety(safety)
    both = asyncio.run(two_question_report(agent, two_questions))
    print_two_questions(both)
    real_predictions = asyncio.run(predict(agent, [t for t, _ in real]))
    real_report = score(
        [i for _, i in real],
        [p["intent"] for p in real_predictions],
        [t for t, _ in real],
        [p["confidence"] for p in real_predictions],
    )
    print("\nReal questions from other clinics' pages and forums")
    print_report(real_report)
    routing = asyncio.run(safety_routing_report(agent, must_refer, near_misses))
    print_safety_routing(routing)
    if report_path:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            **report.as_dict(),
            "threshold_sweep": thresholds,
            "red_flags": safety,
            "two_questions": both,
            "real_questions": real_report.as_dict(),
            "safety_routing": routing,
        }
        report_path.write_text(json.dumps(data, indent=2))
    failures = []
    if report.accuracy < min_accuracy:
        failures.append(f"accuracy {report.accuracy:.4f} is below {min_accuracy}")
    if safety["recall"] < MIN_EMERGENCY_RECALL:
        failures.append(f"emergency recall {safety['recall']:.3f} is below 1")
    if safety["precision"] < MIN_EMERGENCY_PRECISION:
        failures.append(
            f"emergency precision {safety['precision']:.3f} is below "
            f"{MIN_EMERGENCY_PRECISION}"
        )
    if both["both_answered"] < MIN_BOTH_ANSWERED:
        failures.append(
            f"two questions answered {both['both_answered']:.3f}, below "
            f"{MIN_BOTH_ANSWERED}"
        )
    if real_report.accuracy < min_real_accuracy:
        failures.append(
            f"real-questions accuracy {real_report.accuracy:.4f} is below "
            f"{min_real_accuracy}"
        )
    if routing["not_referred"]:
        failures.append(
            f"{len(routing['not_referred'])} safety questions were not sent to "
            "the physio"
        )
    near_referred = len(routing["near_misses_referred"]) / max(1, len(near_misses))
    if near_referred > MAX_NEAR_MISS_REFERRED:
        failures.append(
            f"{near_referred:.2f} of ordinary questions sent to the physio, above "
            f"{MAX_NEAR_MISS_REFERRED}"
        )
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        return 1
    print(
        f"OK: accuracy at least {min_accuracy}, every emergency recognised, "
        f"precision at least {MIN_EMERGENCY_PRECISION}, two questions at least "
        f"{MIN_BOTH_ANSWERED}, real questions at least {min_real_accuracy}, "
        "every safety question sent to the physio"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.evaluate", description="score the held-out NLU set"
    )
    parser.add_argument(
        "holdout", type=Path, nargs="?", default=PROJECT_ROOT / "tests/nlu/holdout.yml"
    )
    parser.add_argument(
        "--model", type=Path, default=PROJECT_ROOT / "models" / "faq.tar.gz"
    )
    parser.add_argument("--min-accuracy", type=float, default=0.93)
    parser.add_argument(
        "--min-real-accuracy",
        type=float,
        default=MIN_REAL_ACCURACY,
        help="floor for the real-questions set (tests/nlu/real_questions.yml)",
    )
    parser.add_argument(
        "--report", type=Path, default=PROJECT_ROOT / "results" / "holdout.json"
    )
    args = parser.parse_args(argv)
    return evaluate(
        args.holdout,
        args.model,
        args.min_accuracy,
        report_path=args.report,
        min_real_accuracy=args.min_real_accuracy,
    )


if __name__ == "__main__":
    sys.exit(main())
