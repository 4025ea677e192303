"""Evaluate the trained model on the held-out NLU set.

Prints per-intent precision/recall, the most frequent confusions and the
misclassified messages, and fails below the required accuracy. Refuses to run
when a held-out message also appears in the training data.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot import PROJECT_ROOT

FALLBACK = "nlu_fallback"
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


async def predict(model_path: Path, texts: list[str]) -> list[dict]:
    """Predicted intent plus the classifier's own best guess behind a fallback."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model_path))
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


def evaluate(
    holdout: Path,
    model_path: Path,
    min_accuracy: float,
    training_dir: Path = PROJECT_ROOT / "data" / "nlu",
    report_path: Path | None = None,
) -> int:
    examples = read_examples(holdout)
    overlap = leaked(examples, training_dir)
    if overlap:
        print("Held-out messages found in the training data:")
        for text in overlap:
            print(f"  {text}")
        return 2
    texts = [t for t, _ in examples]
    gold = [i for _, i in examples]
    predictions = asyncio.run(predict(model_path, texts))
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
    if report_path:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        data = {**report.as_dict(), "threshold_sweep": thresholds}
        report_path.write_text(json.dumps(data, indent=2))
    if report.accuracy < min_accuracy:
        print(f"FAIL: accuracy {report.accuracy:.4f} is below {min_accuracy}")
        return 1
    print(f"OK: accuracy is at least {min_accuracy}")
    return 0
