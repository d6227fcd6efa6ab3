"""Pages outside the image detector's training pages: what synthesis may say about them.

The real engine and the default detector annotate the shared simulated recordings drawn at
20 uV/mm, a sensitivity the detector never trained on (its coverage file: 5-15 uV/mm), so every
page's ``detector.coverage`` says it is outside. The detector's search then says nothing: no text
may state that spikes, sharp waves, vertex waves or POSTS are absent, and what it reports there is
not stated as a finding; the signal's sleep transients (YASA), artifacts and background still are.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from cerebragloss.labels import EPILEPTIFORM_CLASSES, WAVEFORM_CLASSES
from cerebragloss.synthesis.facts import SIGNAL_SEARCHED_CLASSES, facts_record, page_facts
from cerebragloss.synthesis.rules import binary_questions, caption, multiple_choice, rule_samples
from cerebragloss.synthesis.teacher import (
    TEACHER_TASKS,
    OfflineTeacher,
    build_request,
    parse_prompt,
    sample_from_reply,
)
from cerebragloss.synthesis.verify import mentions, verify_sample
from cerebragloss.synthesis.vocabulary import NAMES, OPTION_NAMES
from tests.synthesis.example_page import example_annotation

DETECTOR_ONLY = [c for c in WAVEFORM_CLASSES if c not in SIGNAL_SEARCHED_CLASSES]


@pytest.fixture(scope="module")
def outside(tmp_path_factory, annotated) -> list[dict]:
    from cerebragloss.detection.detector import DEFAULT_WEIGHTS
    from cerebragloss.engine.run import AnnotateSettings, annotate_recordings
    from cerebragloss.settings import load_settings

    settings = load_settings(AnnotateSettings, None, ["page.render.sensitivity_uv_per_mm=20"])
    root = tmp_path_factory.mktemp("outside_coverage")
    annotate_recordings([annotated.parent / "recordings"], root, detector_weights=DEFAULT_WEIGHTS, settings=settings, progress=False)
    return [json.loads(line) for line in (root / "annotations.jsonl").read_text().splitlines()]


def _named_class(question: str) -> str | None:
    match = re.match(r"Is there (?:an? )?(.+) on this page\?", question)
    return next((k for k, (singular, _) in NAMES.items() if match and singular == match.group(1)), None)


def test_the_pages_are_outside_the_detectors_coverage(outside):
    assert len(outside) == 24
    assert all(a["detector"]["coverage"] == {"within_training": False, "outside": ["20 uV/mm (trained on 5-15)"]} for a in outside)
    facts = [page_facts(a) for a in outside]
    assert all(f.searched == set(SIGNAL_SEARCHED_CLASSES) and not f.epileptiform_searched for f in facts)


def test_no_absence_of_a_detector_only_class_is_stated(outside):
    for annotation in outside:
        facts = page_facts(annotation)
        text = caption(facts)
        denied = {m.label for m in mentions(text) if m.negated and m.kind == "waveform"}
        assert not denied & set(DETECTOR_ONLY), text
        assert not re.search(r"no (epileptiform|spikes)", text, re.IGNORECASE), text
        assert "epileptiform discharges were not assessed" in text.lower(), text
        for question, answer, _reason in binary_questions(facts, 5):
            assert not question.startswith("Does this page contain epileptiform"), question
            label = _named_class(question)
            assert not (answer == "no" and label in WAVEFORM_CLASSES and label not in SIGNAL_SEARCHED_CLASSES), question
        for question, options, letter in multiple_choice(facts, 7):
            if question.startswith("Which of the following is present"):
                wrong = [o for i, o in enumerate(options) if "ABCD"[i] != letter]
                assert not set(wrong) & {OPTION_NAMES[c] for c in DETECTOR_ONLY}, options
        record = facts_record(facts)
        assert record["waveforms_searched"] == ["k_complex", "sleep_spindle"]
        assert record["waveform_detector_outside_coverage"] == ["20 uV/mm (trained on 5-15)"]


def test_signal_findings_stand_and_detector_events_are_set_aside(outside):
    facts = [page_facts(a) for a in outside]
    # YASA's spindles are still stated...
    stated = [f for f in facts if f.sleep]
    assert stated and all(e.label in SIGNAL_SEARCHED_CLASSES for f in stated for e in f.sleep)
    assert all("sleep spindle" in caption(f) or "K-complex" in caption(f) for f in stated)
    # ...while what the detector found on these pages (cleaning kept some) is not
    kept_by_cleaning = [
        a["findings"]["events"][i]["class"] for a in outside
        for i in a["findings"]["epileptiform"] + a["findings"]["sleep_events"] if a["findings"]["events"][i]["source"] == "detector"
    ]  # fmt: skip
    assert kept_by_cleaning
    assert not [e for f in facts for e in f.epileptiform]
    set_aside = [s for f in facts for s in f.set_aside if "outside its training pages (20 uV/mm (trained on 5-15))" in s]
    assert len(set_aside) == len(kept_by_cleaning)


def test_every_rule_and_offline_teacher_sample_passes_verification(outside):
    samples = [s for a in outside for s in rule_samples(a)]
    teacher = OfflineTeacher()
    for annotation in outside:
        for task in TEACHER_TASKS:
            request = build_request(annotation, task)
            assert '"waveforms_searched": ["k_complex", "sleep_spindle"]' in request.prompt
            samples.append(sample_from_reply(request, teacher.ask(request).reply, annotation, "offline", "offline"))
    assert {s["id"]: verify_sample(s) for s in samples if verify_sample(s)} == {}
    descriptions = [s["messages"][1]["content"] for s in samples if s["task"] == "description"]
    assert all("epileptiform discharges not assessed" in d for d in descriptions)


def test_the_same_pages_inside_coverage_state_absence(outside):
    # The planted opposite: mark the pages as covered and "no spikes" comes back (the guard above
    # is what removes it, not a page without anything to say).
    covered = copy.deepcopy(outside)
    for annotation in covered:
        annotation["detector"]["coverage"] = {"within_training": True, "outside": []}
    answers = [(q, a) for ann in covered for q, a, _ in binary_questions(page_facts(ann), 5)]
    assert ("Does this page contain epileptiform discharges?", "no") in answers


def _outside_example() -> dict:
    annotation = example_annotation()
    annotation["detector"]["coverage"] = {"within_training": False, "outside": ["montage average (trained on longitudinal_bipolar)"]}
    annotation["sleep_signal"] = {"ran": True, "source": "yasa", "context_s": 60.0, "slow_waves": 0}
    return annotation


def _description(text: str, annotation: dict) -> dict:
    request = build_request(annotation, "description")
    return sample_from_reply(request, {"description": text}, annotation, "llm", "gemini-2.5-flash")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Symmetric alpha background. Blink artifact in Fp1-F7 and Fp2-F8.", None),
        ("Spikes, sharp waves and POSTS were not assessed on this page.", None),
        ("No sleep spindles are seen.", None),  # the signal's detector looked for them
        ("No spikes are seen.", "claims no spike although the waveform detector's search does not cover this page "
                                "(montage average (trained on longitudinal_bipolar))"),
        ("There are no vertex waves.", "claims no vertex wave although the waveform detector's search"),
        ("A sharp wave is seen at 4.2 s in F8-T8.", "invents sharp wave"),  # the detector's event, set aside
        ("A spike is seen, and POSTS were not assessed.", "invents spike"),
    ],
)
def test_verification_on_a_page_outside_coverage(text, problem):
    problems = verify_sample(_description(text, _outside_example()))
    if problem is None:
        assert problems == []
    else:
        assert any(p.startswith(problem) for p in problems), problems


def test_the_teacher_is_told_which_classes_it_may_call_absent():
    _task, payload = parse_prompt(build_request(_outside_example(), "description").prompt)
    record = payload["annotation"]
    assert record["waveforms_searched"] == ["k_complex", "sleep_spindle"]
    assert record["epileptiform_discharges"] == [] and record["sleep_transients"] == []
    assert "not assessed" in payload["caption"] and "no spikes" not in payload["caption"].lower()
    assert set(EPILEPTIFORM_CLASSES).isdisjoint(record["waveforms_searched"])
