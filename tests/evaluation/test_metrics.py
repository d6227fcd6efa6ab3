"""Metrics against hand-computed values; the answer parser against tricky replies."""

from __future__ import annotations

import pytest

from cerebragloss.evaluation.metrics import (
    balanced_accuracy,
    detection_map50,
    mcq_accuracy,
    parse_choice,
    rouge1,
)

OPTIONS = ["Spike", "Sharp wave", "Spike-and-slow-wave complex", "K-complex"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", "B"),
        ("(B)", "B"),
        ("b", "B"),
        ("**C**", "C"),
        ("B.", "B"),
        ("Answer: B", "B"),
        ("answer: (d)", "D"),
        ("The answer is b.", "B"),
        ("I think the correct answer is C because the wave is followed by a slow wave.", "C"),
        ("Option D", "D"),
        ("C) Spike-and-slow-wave complex", "C"),
        ("B. Sharp wave", "B"),
        ("Sharp wave", "B"),
        ("It is a sharp wave.", "B"),
        ("This is a spike-and-slow-wave complex over T8.", "C"),  # contains "spike" too: the longest option wins
        ("A spike-and-slow-wave complex is seen.", "C"),  # "A" here is an article, not option A
        ("A K-complex.", "D"),
        ("Either a spike or a K-complex.", None),  # two unrelated options: ambiguous
        ("I cannot tell.", None),
        ("", None),
        ("Answer: E", None),  # not one of the 4 options
    ],
)
def test_parse_choice(reply, expected):
    assert parse_choice(reply, OPTIONS) == expected


def test_mcq_accuracy_counts_unparsed_replies_as_wrong():
    score = mcq_accuracy(["B", "the answer is c", "no idea", "K-complex"], ["B", "A", "C", "D"], [OPTIONS] * 4)
    assert score.accuracy == pytest.approx(2 / 4) and score.parsed == pytest.approx(3 / 4) and score.total == 4


def test_rouge1_matches_a_hand_count():
    # reference 6 tokens, prediction 6 tokens, 5 shared unigrams (the, cat, on, the, mat) -> P = R = F = 5/6
    assert rouge1(["the cat sat on the mat"], ["the cat is on the mat"]) == pytest.approx(5 / 6, abs=1e-4)
    # mean over pairs: 5/6 and 1.0
    assert rouge1(["the cat sat on the mat", "alpha rhythm"], ["the cat is on the mat", "alpha rhythm"]) == pytest.approx((5 / 6 + 1) / 2, abs=1e-4)


def test_balanced_accuracy_averages_the_recall_of_classes_present():
    target = ["W", "W", "W", "N2", "N2", "R"]
    predicted = ["W", "W", "N1", "N2", None, "W"]  # recall W 2/3, N2 1/2, R 0; N1 absent from the target
    result = balanced_accuracy(predicted, target, ["W", "N1", "N2", "N3", "R"])
    assert result["recall"] == pytest.approx({"W": 2 / 3, "N2": 0.5, "R": 0.0})
    assert result["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)
    with pytest.raises(ValueError, match="not in"):
        balanced_accuracy(["W"], ["X"], ["W"])


def test_detection_map50_per_class():
    classes = ["spike", "k_complex", "posts"]
    targets = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60]], "labels": ["spike", "k_complex"]},
               {"boxes": [[0, 0, 10, 10]], "labels": ["spike"]}]  # fmt: skip
    predictions = [
        # spike found (IoU 0.81), a false K-complex elsewhere, the real K-complex missed
        {"boxes": [[1, 1, 10, 10], [80, 80, 90, 90]], "scores": [0.9, 0.8], "labels": ["spike", "k_complex"]},
        # second page: the spike found with a box of IoU 0.25 (< 0.5): a miss and a false positive
        {"boxes": [[0, 0, 5, 5]], "scores": [0.7], "labels": ["spike"]},
    ]
    result = detection_map50(predictions, targets, classes)
    # spike: ranked detections TP(0.9), FP(0.7); 2 targets -> precision 1 at recall 0.5, COCO
    # 101-point interpolation -> 51 of 101 recall points at precision 1 = 0.5050
    assert result["ap50"]["spike"] == pytest.approx(51 / 101, abs=1e-3)
    assert result["ap50"]["k_complex"] == 0.0
    assert "posts" not in result["ap50"]  # no target: undefined, left out of the mean
    assert result["map50"] == pytest.approx((51 / 101 + 0.0) / 2, abs=1e-3)


def test_five_options_are_parsed_for_sleep_stages():
    stages = ["Wake (W)", "N1", "N2", "N3", "REM (R)"]
    assert parse_choice("E", stages) == "E" and parse_choice("The stage is REM (R).", stages) == "E"
    assert parse_choice("N2", stages) == "C" and parse_choice("answer: (d)", stages) == "D"
