"""The teacher's prompt, replies, cache and the offline teacher (no server: see test_teacher_server)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest

from cerebragloss.llm import api_key_from_environment
from cerebragloss.synthesis.facts import facts_record, page_facts
from cerebragloss.synthesis.run import teacher_plan
from cerebragloss.synthesis.teacher import (
    EXAMPLE_INPUT,
    EXAMPLE_REPLIES,
    RESPONSE_SCHEMAS,
    TEACHER_TASKS,
    MalformedReply,
    OfflineTeacher,
    ReplyCache,
    TeacherSettings,
    build_request,
    cache_key,
    parse_prompt,
    parse_reply,
    run_teacher,
    sample_from_reply,
)
from cerebragloss.synthesis.verify import verify_sample
from tests.synthesis.example_page import example_annotation


def test_the_prompt_carries_the_caption_and_detection_coordinates_but_no_image():
    request = build_request(example_annotation(), "description")
    task, payload = parse_prompt(request.prompt)
    assert task == "description" and set(payload) == {"caption", "annotation"}
    discharge = payload["annotation"]["epileptiform_discharges"][0]
    assert discharge["channels"] == ["F8-T8", "T8-P8"] and discharge["box_px"] == [590, 140, 612, 196]
    assert discharge["maximum_negativity_at"] == "T8" and discharge["start_s"] == 4.2
    # the detection cleaning dropped is not given to the teacher
    assert "F3-C3" not in request.prompt and ".png" not in request.prompt


def test_the_one_shot_example_passes_its_own_verification():
    # The example teaches the format: it must itself be faithful to its input, which is the
    # example page without its K-complex.
    assert set(EXAMPLE_REPLIES) == set(TEACHER_TASKS) == set(RESPONSE_SCHEMAS)
    annotation = example_annotation()
    annotation["findings"]["events"].pop(1)
    annotation["findings"]["sleep_events"] = []
    example = EXAMPLE_INPUT["annotation"]
    assert facts_record(page_facts(annotation))["epileptiform_discharges"][0]["channels"] == example["epileptiform_discharges"][0]["channels"]
    assert facts_record(page_facts(annotation))["sleep_transients"] == example["sleep_transients"] == []
    for task, reply in EXAMPLE_REPLIES.items():
        sample = sample_from_reply(build_request(annotation, task), parse_reply(task, json.dumps(reply)), annotation, "llm", "example")
        assert verify_sample(sample) == []


@pytest.mark.parametrize(
    ("task", "text", "why"),
    [
        ("description", '{"description": "cut off', "not JSON"),
        ("description", "[]", "expected a JSON object"),
        ("description", '{"text": "x"}', "missing description"),
        ("description", '{"description": "  "}', "empty description"),
        ("complex_mcq", '{"question": "q", "options": "A B C D", "answer": "A", "explanation": "e"}', "options are not a list"),
        ("conversation", '{"turns": [{"question": "q"}]}', "turns are not a list"),
        ("conversation", None, "not JSON"),
    ],
)
def test_malformed_replies_are_refused_with_the_reason(task, text, why):
    with pytest.raises(MalformedReply, match=why):
        parse_reply(task, text)


def test_the_plan_keeps_the_three_tasks_balanced_in_every_split_for_any_limit(annotations):
    from cerebragloss.shards import split_subjects

    splits = split_subjects({a["subject"] for a in annotations}, {"val": 0.25, "bench": 0.25}, seed=0)
    assert len(set(splits.values())) == 3
    for limit in (1, 2, 7, 23, None):
        plan = teacher_plan(annotations, seed=0, limit=limit, splits=splits)
        assert len(plan) == (limit or len(annotations))
        assert len({a["key"] for a, _ in plan}) == len(plan)  # one task per page
        for split in ("train", "val", "bench"):
            counts = Counter(task for a, task in plan if splits[a["subject"]] == split)
            if counts:
                assert max(counts.values()) - min(counts.get(t, 0) for t in TEACHER_TASKS) <= 1, (limit, split, counts)
        overall = Counter(task for _, task in plan)
        assert max(overall.values()) - min(overall.get(t, 0) for t in TEACHER_TASKS) <= 3
    assert teacher_plan(annotations, 0) == teacher_plan(annotations, 0) != teacher_plan(annotations, 1)


def test_the_plan_gives_a_page_as_many_different_tasks_as_asked(annotations):
    for tasks_per_page in (2, 3):
        plan = teacher_plan(annotations, seed=0, tasks_per_page=tasks_per_page)
        by_page: dict[str, list[str]] = {}
        for annotation, task in plan:
            by_page.setdefault(annotation["key"], []).append(task)
        assert len(by_page) == len(annotations)
        assert all(len(set(tasks)) == len(tasks) == tasks_per_page for tasks in by_page.values()), by_page
    assert Counter(task for _, task in teacher_plan(annotations, seed=0, tasks_per_page=3)) == {t: len(annotations) for t in TEACHER_TASKS}
    with pytest.raises(ValueError, match="tasks_per_page"):
        teacher_plan(annotations, seed=0, tasks_per_page=4)


def test_offline_teacher_writes_every_task_faithfully_and_deterministically(annotations, undetected, tmp_path):
    teacher = OfflineTeacher()
    for annotation in annotations + undetected:
        for task in TEACHER_TASKS:
            request = build_request(annotation, task)
            reply = teacher.ask(request).reply
            assert reply == teacher.ask(request).reply
            sample = sample_from_reply(request, parse_reply(task, json.dumps(reply)), annotation, "offline", "offline")
            assert verify_sample(sample) == [], (task, sample["messages"])
    assert teacher.source == "offline"


def test_cache_key_changes_with_everything_that_decides_a_reply():
    request = build_request(example_annotation(), "description")
    settings = TeacherSettings(kind="gemini")
    key = cache_key(request, settings)
    assert cache_key(request, TeacherSettings(kind="gemini")) == key
    assert cache_key(request, replace(settings, model="gemini-2.5-pro")) != key
    assert cache_key(request, replace(settings, temperature=0.2)) != key
    assert cache_key(build_request(example_annotation(), "conversation"), settings) != key
    # retries and concurrency do not change what is asked
    assert cache_key(request, replace(settings, concurrency=1, attempts=2)) == key


def test_a_rerun_is_served_from_the_cache(annotations, tmp_path):
    requests = [build_request(a, "description") for a in annotations[:5]]
    cache = ReplyCache(tmp_path / "cache")
    replies, report = run_teacher(requests, OfflineTeacher(), cache, TeacherSettings(), progress=False)
    assert (report.asked, report.cached, len(cache)) == (5, 0, 5)
    again, report = run_teacher(requests, OfflineTeacher(), cache, TeacherSettings(), progress=False)
    assert (report.asked, report.cached) == (0, 5) and again == replies
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_the_gemini_teacher_names_the_missing_key(monkeypatch):
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(RuntimeError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        api_key_from_environment()
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google-variable")
    assert api_key_from_environment() == "from-google-variable"


def test_offline_complex_mcq_options_in_clinical_order_keep_the_options_and_move_the_letter_with_the_answer(annotations, undetected):
    """``teacher.mcq_option_order=clinical`` (the learn run's): the same question, options and
    explanation as the shuffled order, listed by band (delta -> beta), then the finding before its
    absence, the letter still naming the right option; the cache keeps the shuffled replies' keys
    and tells the two apart."""
    bands = ("delta", "theta", "alpha", "beta")
    shuffled_teacher, clinical_teacher = OfflineTeacher(), OfflineTeacher(TeacherSettings(mcq_option_order="clinical"))
    reordered = 0
    for annotation in annotations + undetected + [example_annotation()]:
        request = build_request(annotation, "complex_mcq")
        shuffled, clinical = shuffled_teacher.ask(request).reply, clinical_teacher.ask(request).reply
        assert sorted(clinical["options"]) == sorted(shuffled["options"])
        assert (clinical["question"], clinical["explanation"]) == (shuffled["question"], shuffled["explanation"])
        right = shuffled["options"]["ABCD".index(shuffled["answer"])]
        assert clinical["options"]["ABCD".index(clinical["answer"])] == right
        ranks = [bands.index(option.split()[0].lower()) for option in clinical["options"]]
        assert ranks == sorted(ranks), clinical["options"]
        findings = [o.split(" with ", 1)[1] for o in clinical["options"]]
        assert [f.startswith("no ") for f in findings] == [False, True, False, True], findings
        reordered += clinical["options"] != shuffled["options"]
    assert reordered > 0
    sharp_wave = clinical_teacher.ask(build_request(example_annotation(), "complex_mcq")).reply
    assert [o for o in sharp_wave["options"] if o.startswith("Alpha")][-1].startswith("Alpha dominant activity with no ")
    request = build_request(example_annotation(), "complex_mcq")
    assert cache_key(request, TeacherSettings()) == cache_key(request, TeacherSettings(mcq_option_order="shuffled"))
    assert cache_key(request, TeacherSettings(mcq_option_order="clinical")) != cache_key(request, TeacherSettings())
    with pytest.raises(ValueError, match="mcq_option_order"):
        TeacherSettings(mcq_option_order="alphabetical")


def test_offline_complex_mcq_options_alone_do_not_give_the_answer_away(annotations, undetected):
    """The options are a 2 x 2 grid, {the page's band, its contrast} x {a finding, its absence}:
    each band and each finding is in two options, so a reader of the options alone cannot tell the
    answer (before, the answer was the option sharing its band with two others). The finding family
    is drawn regardless of the page, so a made-up finding and an absence are both distractors; the
    right option states what the annotation holds."""
    teacher = OfflineTeacher()
    made_up_distractor = absence_distractor = 0
    for annotation in annotations + undetected + [example_annotation()]:
        reply = teacher.ask(build_request(annotation, "complex_mcq")).reply
        bands = Counter(option.split()[0] for option in reply["options"])
        findings = Counter(option.split(" with ", 1)[1] for option in reply["options"])
        assert sorted(bands.values()) == [2, 2] and sorted(findings.values()) == [2, 2], reply["options"]
        assert sum(f.startswith("no ") for f in findings) == 1, reply["options"]
        right = reply["options"]["ABCD".index(reply["answer"])]
        band_word = right.split()[0].lower()
        if right.split(" with ", 1)[1].startswith("no "):
            made_up_distractor += 1
        else:
            absence_distractor += 1
        assert band_word in reply["explanation"].lower()
        sample = sample_from_reply(build_request(annotation, "complex_mcq"), reply, annotation, "offline", "offline")
        assert verify_sample(sample) == [], reply
    assert made_up_distractor > 0 and absence_distractor > 0, (made_up_distractor, absence_distractor)
