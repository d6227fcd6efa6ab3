"""The paper's metrics: MCQ accuracy (with answer parsing), description ROUGE-1, detection mAP@0.5,
balanced accuracy. torchmetrics computes what it has; this module adds answer parsing and the
conventions (unparsed answers count as wrong, balanced accuracy averages the classes present).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

LETTERS = "ABCDEFGH"

#: "the answer is (b)", "Answer: B", "correct option: C", "option D"
_STATED = re.compile(r"\b(?:answer|option|choice)\s*(?:is|would be|:|=)?\s*[:\-]?\s*\(?\*{0,2}([A-Ha-h])\*{0,2}\)?(?![A-Za-z0-9])", re.IGNORECASE)
#: the whole reply is a letter: "B", "(B)", "b.", "**B**"
_BARE = re.compile(r"^\W*([A-Ha-h])\W*$")
#: the reply opens with a letter and a delimiter: "B. Sharp wave", "(C) ...", "D) ...", "A: ..."
_LEADING = re.compile(r"^\W{0,3}([A-H])(?:[.):]|\s*\))(?:\s|$)")


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def parse_choice(reply: str, options: list[str] | None = None) -> str | None:
    """The option letter a free-text reply chooses, or None when it cannot be told.

    Tried in order: a stated answer ("the answer is b", "Answer: (C)"), a bare letter ("B", "(B)",
    "**b**"), a leading letter with a delimiter ("B. Sharp wave"; uppercase only, so that "A sharp
    wave is seen" is not read as A), then the options' texts: the longest option text the reply
    contains wins when no other contained option is outside it ("spike-and-slow-wave complex"
    over "spike"); two unrelated options mentioned is ambiguous.
    """
    if not reply or not reply.strip():
        return None
    text = reply.strip()
    allowed = LETTERS[: len(options)] if options else LETTERS[:4]
    for pattern in (_STATED, _BARE, _LEADING):
        match = pattern.search(text) if pattern is _STATED else pattern.match(text)
        if match:
            letter = match.group(1).upper()
            return letter if letter in allowed else None
    if not options:
        return None
    said = f" {_normalise(text)} "
    found = [(LETTERS[i], _normalise(o)) for i, o in enumerate(options) if _normalise(o) and f" {_normalise(o)} " in said]
    if not found:
        return None
    letter, longest = max(found, key=lambda item: len(item[1]))
    if all(f" {other} " in f" {longest} " for _, other in found):
        return letter
    return None


@dataclass
class ChoiceScore:
    accuracy: float
    parsed: float  # share of replies a letter could be read from
    total: int


def mcq_accuracy(replies: list[str], answers: list[str], options: list[list[str]] | None = None) -> ChoiceScore:
    """Accuracy over multiple-choice replies; an unparsed reply counts as wrong."""
    from torchmetrics.classification import MulticlassAccuracy

    if len(replies) != len(answers):
        raise ValueError(f"{len(replies)} replies for {len(answers)} answers")
    if not replies:
        return ChoiceScore(0.0, 0.0, 0)
    options = options or [None] * len(replies)
    chosen = [parse_choice(r, o) for r, o in zip(replies, options, strict=True)]
    # unparsed -> an extra class no answer has, so it is simply wrong
    predicted = torch.tensor([LETTERS.index(c) if c else len(LETTERS) for c in chosen])
    target = torch.tensor([LETTERS.index(a.strip().upper()) for a in answers])
    accuracy = MulticlassAccuracy(num_classes=len(LETTERS) + 1, average="micro")(predicted, target)
    return ChoiceScore(float(accuracy), sum(c is not None for c in chosen) / len(chosen), len(chosen))


def rouge1(predictions: list[str], references: list[str]) -> float:
    """Mean ROUGE-1 F-measure (torchmetrics, offline: no rougeLsum, which needs nltk data)."""
    from torchmetrics.text.rouge import ROUGEScore

    if not predictions:
        return 0.0
    return float(ROUGEScore(rouge_keys=("rouge1",))(predictions, references)["rouge1_fmeasure"])


def balanced_accuracy(predicted: list[str | None], target: list[str], classes: list[str]) -> dict:
    """Mean recall over the classes present in ``target`` (as scikit-learn's balanced accuracy);
    an unparsed prediction (None) is wrong. Returns the score and the per-class recall."""
    from torchmetrics.classification import MulticlassRecall

    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({t for t in target if t not in index})
    if unknown:
        raise ValueError(f"target classes {unknown} not in {classes}")
    if not target:
        return {"balanced_accuracy": 0.0, "recall": {}}
    predictions = torch.tensor([index.get(p, len(classes)) if p is not None else len(classes) for p in predicted])
    targets = torch.tensor([index[t] for t in target])
    # torchmetrics' macro average counts classes absent from the target as 0: average ourselves
    recall = MulticlassRecall(num_classes=len(classes) + 1, average="none")(predictions, targets)
    present = sorted(set(targets.tolist()))
    per_class = {classes[i]: float(recall[i]) for i in present}
    return {"balanced_accuracy": sum(per_class.values()) / len(per_class), "recall": per_class}


def detection_map50(predictions: list[dict], targets: list[dict], classes: list[str]) -> dict:
    """mAP@0.5 over pages and AP@0.5 per class (torchmetrics with the COCO evaluator).

    Each page: predictions ``{"boxes": [[x1, y1, x2, y2], ...], "scores": [...], "labels": [class, ...]}``,
    targets ``{"boxes": ..., "labels": ...}``; classes by name. Classes without any target box
    are left out of the mean (their AP is undefined).
    """
    from torchmetrics.detection import MeanAveragePrecision

    index = {c: i for i, c in enumerate(classes)}

    def tensors(page: dict, scores: bool) -> dict:
        boxes = torch.tensor(page.get("boxes") or [], dtype=torch.float32).reshape(-1, 4)
        out = {"boxes": boxes, "labels": torch.tensor([index[label] for label in page.get("labels", [])], dtype=torch.long)}
        if scores:
            out["scores"] = torch.tensor(page.get("scores") or [], dtype=torch.float32)
        return out

    metric = MeanAveragePrecision(iou_thresholds=[0.5], class_metrics=True)
    metric.update([tensors(p, True) for p in predictions], [tensors(t, False) for t in targets])
    result = metric.compute()
    per_class = {}
    for class_index, ap in zip(result["classes"].reshape(-1).tolist(), result["map_per_class"].reshape(-1).tolist(), strict=True):
        if ap >= 0:  # -1: no target box of this class
            per_class[classes[class_index]] = round(float(ap), 4)
    mean = sum(per_class.values()) / len(per_class) if per_class else 0.0
    return {"map50": round(mean, 4), "ap50": per_class}
