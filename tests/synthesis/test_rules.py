"""Rule captions, multiple-choice and binary questions from real engine annotations."""

from __future__ import annotations

import copy
import re
from collections import Counter

from cerebragloss.labels import WAVEFORM_CLASSES
from cerebragloss.synthesis.facts import SIGNAL_SEARCHED_CLASSES, page_facts
from cerebragloss.synthesis.rules import (
    RuleSettings,
    binary_questions,
    caption,
    multiple_choice,
    rule_samples,
)
from cerebragloss.synthesis.samples import LETTERS
from cerebragloss.synthesis.verify import mentions, verify_sample
from cerebragloss.synthesis.vocabulary import NAMES, OPTION_NAMES


def test_every_rule_sample_passes_verification_against_its_own_annotation(annotations, undetected):
    # Rules and verification read the same facts: a rule sample that verification rejects means
    # one of them is wrong. Both annotation sets (with and without a detector) are covered.
    samples = [s for a in annotations + undetected for s in rule_samples(a)]
    assert len(samples) == 5 * 48
    assert {s["task"] for s in samples} == {"caption", "mcq", "binary"}
    rejected = {s["id"]: verify_sample(s) for s in samples if verify_sample(s)}
    assert rejected == {}


def test_a_caption_states_each_finding_that_survived_cleaning(annotations):
    for annotation in annotations:
        facts = page_facts(annotation)
        text = caption(facts)
        named = {m.label for m in mentions(text) if not m.negated}
        assert named == facts.classes | facts.artifact_types, (text, facts.classes, facts.artifact_types)
        for event in facts.epileptiform:
            assert f"maximal negativity at {event.focus}" in text
        assert "double banana" in text


def test_masked_and_dropped_detections_are_not_stated(annotations):
    annotation = copy.deepcopy(next(a for a in annotations if page_facts(a).epileptiform))
    findings = annotation["findings"]
    removed = findings["events"][findings["epileptiform"][0]]["class"]
    # Cleaning masks every epileptiform event of this page: they stay in "decisions" only.
    keep = [i for i in range(len(findings["events"])) if i not in findings["epileptiform"]]
    findings["events"] = [findings["events"][i] for i in keep]
    findings["sleep_events"] = [keep.index(i) for i in findings["sleep_events"]]
    findings["epileptiform"] = []
    text = caption(page_facts(annotation))
    assert removed not in {m.label for m in mentions(text) if not m.negated}
    assert re.search(r"no (epileptiform|spikes)", text, re.IGNORECASE)


def test_without_a_detector_only_the_signals_sleep_transients_are_spoken_of(undetected):
    # No image detector: epileptiform discharges, vertex waves and POSTS are neither stated nor
    # denied; spindles and K-complexes were looked for on the signal (YASA), so both may be said.
    signal_classes = set(SIGNAL_SEARCHED_CLASSES)
    stated = 0
    for annotation in undetected:
        facts = page_facts(annotation)
        assert not facts.detector_ran and facts.searched == signal_classes
        text = caption(facts)
        waveforms = [m for m in mentions(text) if m.kind == "waveform"]
        assert {m.label for m in waveforms} <= signal_classes, text
        assert {m.label for m in waveforms if not m.negated} == facts.classes, text
        stated += bool(facts.classes)
        assert "epileptiform" not in text and "sleep transient" not in text
        for question, _answer, _reason in binary_questions(facts, 5):
            assert "epileptiform" not in question
            assert not any(NAMES[c][0] in question for c in WAVEFORM_CLASSES if c not in signal_classes), question
    assert stated  # the signal's spindles are stated on some page


def test_phrasing_is_seeded_and_varied(annotations):
    facts = [page_facts(a) for a in annotations]
    assert [caption(f, seed=3) for f in facts] == [caption(f, seed=3) for f in facts]
    changed = sum(caption(f, seed=0) != caption(f, seed=1) for f in facts)
    assert changed >= len(facts) // 2
    openings = Counter(caption(f).split(".")[0].split()[0] for f in facts)
    assert len(openings) >= 2  # more than one template for the montage sentence


def test_multiple_choice_has_four_distinct_options_and_the_right_answer(annotations):
    asked = Counter()
    for annotation in annotations:
        facts = page_facts(annotation)
        for question, options, letter in multiple_choice(facts, 7):
            assert len(options) == 4 and len({o.lower() for o in options}) == 4 and letter in LETTERS
            right = options[LETTERS.index(letter)]
            if question.startswith(("Which waveform", "What is the transient")):
                asked["waveform"] += 1
                at = float(re.search(r"(\d+\.\d) s", question).group(1))
                labels = {e.label for e in facts.events if abs(e.start_s - at) < 0.051}
                assert right in {OPTION_NAMES[label] for label in labels}
                # distractors come from the waveform label space
                assert set(options) <= {OPTION_NAMES[c] for c in WAVEFORM_CLASSES}
            elif question.startswith("Where is the maximal negativity"):
                asked["focus"] += 1
                assert right in {e.focus for e in facts.epileptiform}
            elif question.startswith("Which artifact"):
                asked["artifact"] += 1
                assert right in {OPTION_NAMES[a.label] for a in facts.artifacts}
    assert asked["waveform"] > 5 and asked["focus"] > 3 and asked["artifact"] > 3


def test_binary_answers_follow_the_facts_and_both_answers_occur(annotations):
    answers = Counter()
    for annotation in annotations:
        facts = page_facts(annotation)
        for question, answer, _reason in binary_questions(facts, 5):
            answers[answer] += 1
            match = re.match(r"Is there (?:an? )?(.+) on this page\?", question)
            if match:
                label = next(k for k, (singular, _) in NAMES.items() if singular == match.group(1))
                present = label in facts.classes | facts.artifact_types
                assert answer == ("yes" if present else "no"), question
            if question.startswith("Does this page contain epileptiform"):
                assert answer == ("yes" if facts.epileptiform else "no")
            if question.startswith("Is the background symmetric"):
                assert answer == ("yes" if facts.background.symmetric else "no")
    assert answers["yes"] > 10 and answers["no"] > 10


def test_rule_samples_follow_the_sample_contract(annotations):
    samples = rule_samples(annotations[0], RuleSettings(captions_per_page=2, mcq_per_page=3, binary_per_page=1))
    assert Counter(s["task"] for s in samples) == {"caption": 2, "mcq": 3, "binary": 1}
    for sample in samples:
        assert sample["source"] == "rule" and sample["subject"] == annotations[0]["subject"]
        assert sample["messages"][0]["content"].startswith("<image>\n")
        assert sample["annotation"] is annotations[0]
    mcq = next(s for s in samples if s["task"] == "mcq")
    assert mcq["messages"][1]["content"] == f"{mcq['answer']}. {mcq['options'][LETTERS.index(mcq['answer'])]}"
    assert len({s["id"] for s in samples}) == len(samples)


def test_zero_per_page_means_none(annotations):
    samples = rule_samples(annotations[0], RuleSettings(captions_per_page=0, mcq_per_page=0, binary_per_page=0))
    assert samples == []
