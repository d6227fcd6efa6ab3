"""Verification against planted invented findings, in replies shaped like a real teacher's."""

from __future__ import annotations

import json

import pytest

from cerebragloss.synthesis.teacher import build_request, parse_reply, sample_from_reply
from cerebragloss.synthesis.verify import mentions, verify_sample
from tests.synthesis.example_page import example_annotation

FAITHFUL_DESCRIPTION = (
    "This 10-second page in the longitudinal bipolar montage shows a symmetric, medium-voltage alpha background with a 10.2 Hz "
    "posterior dominant rhythm of about 35 µV over the occipital regions. At 4.2 s a sharp wave appears in F8-T8 and T8-P8; the "
    "phase reversal at T8 localises it to the right temporal region. A K-complex is seen at the vertex (Fz-Cz, Cz-Pz) at 6.0 s. "
    "Eye blink artifact is present in Fp1-F7 and Fp2-F8 between 7.1 and 7.6 s. No spikes, polyspikes or spike-and-wave complexes "
    "are seen, and there is no muscle artifact."
)

#: (planted sentence, a phrase the rejection reason must contain)
PLANTED = [
    ("A spike-and-wave complex is also seen at 2.0 s.", "invents spike-and-slow-wave complex"),
    ("Muscle artifact obscures the temporal chains.", "invents muscle (EMG) artifact"),
    ("Sleep spindles are present centrally.", "invents sleep spindle"),
    ("A spike is seen in F3-C3 at 2.0 s.", "invents spike"),  # the detection cleaning dropped
    ("Positive occipital sharp transients are seen.", "invents positive occipital sharp transient"),
    ("There is a 3 Hz polyspike burst.", "invents polyspike"),
    ("The sharp wave phase-reverses at T7.", "names electrode T7"),
    ("A second discharge arises from C3.", "names electrode C3"),
    ("The sharp wave is maximal over the left central region.", "left central region"),
    ("No K-complexes are present.", "denies K-complex"),
    ("There is 60 Hz mains interference throughout.", "invents mains (line-frequency) interference"),
]


def _description(text: str, annotation=None) -> dict:
    annotation = annotation or example_annotation()
    request = build_request(annotation, "description")
    reply = parse_reply("description", json.dumps({"description": text}))
    return sample_from_reply(request, reply, annotation, "llm", "gemini-2.5-flash")


def test_a_faithful_description_with_negations_is_kept():
    assert verify_sample(_description(FAITHFUL_DESCRIPTION)) == []


@pytest.mark.parametrize(("planted", "reason"), PLANTED)
def test_each_planted_invention_is_caught_with_its_reason(planted, reason):
    problems = verify_sample(_description(f"{FAITHFUL_DESCRIPTION} {planted}"))
    assert any(reason in p for p in problems), problems


def test_absence_claims_need_a_detector():
    undetected = example_annotation(detector_ran=False)
    text = "Symmetric alpha background with a 10.2 Hz posterior dominant rhythm. Blink artifact in Fp1-F7 and Fp2-F8."
    assert verify_sample(_description(text, undetected)) == []
    problems = verify_sample(_description(text + " No spikes are seen.", undetected))
    assert problems == ["claims no spike although no waveform detector ran on this page ('spikes')"]


def test_nested_names_are_read_whole():
    labels = [m.label for m in mentions("A sharp-and-slow-wave complex, a spike-and-wave discharge and a polyspike.")]
    assert sorted(labels) == ["polyspike", "sharp_and_slow_wave", "spike_and_slow_wave"]
    assert [m.negated for m in mentions("No spikes are seen, but a sharp wave is present at T8.")] == [False, True]


def _complex_mcq(reply: dict) -> dict:
    annotation = example_annotation()
    return sample_from_reply(build_request(annotation, "complex_mcq"), reply, annotation, "llm", "gemini-2.5-flash")


GOOD_MCQ = {
    "question": "Which combination best describes this page?",
    "options": ["Alpha PDR with a right temporal sharp wave (T8)", "Alpha PDR with a left temporal sharp wave (T7)",
                "Theta background with generalized spike-and-wave", "Alpha PDR and no epileptiform discharges"],
    "answer": "A",
    "explanation": "The posterior dominant rhythm is 10.2 Hz alpha and the sharp wave at 4.2 s reverses phase at T8.",
}  # fmt: skip


def test_multiple_choice_distractors_may_be_wrong_but_the_answer_may_not():
    # Distractors name T7 and spike-and-wave on purpose: only question, answer and explanation count.
    assert verify_sample(_complex_mcq(GOOD_MCQ)) == []
    wrong_answer = GOOD_MCQ | {"answer": "C"}
    assert any("invents spike-and-slow-wave" in p for p in verify_sample(_complex_mcq(wrong_answer)))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"answer": "E"}, "answer 'E' is not one of the options' letters"),
        ({"options": GOOD_MCQ["options"][:3]}, "3 options instead of 4"),
        ({"options": GOOD_MCQ["options"][:3] + [GOOD_MCQ["options"][0].upper()]}, "options repeat"),
    ],
)
def test_malformed_multiple_choice_is_rejected(change, reason):
    assert reason in verify_sample(_complex_mcq(GOOD_MCQ | change))


def test_conversation_answers_are_checked_but_questions_may_ask_anything():
    annotation = example_annotation()
    turns = [
        {"question": "Any spikes or POSTS here?", "answer": "No spikes or POSTS; there is one right temporal sharp wave at T8."},
        {"question": "What about the vertex?", "answer": "A K-complex at 6.0 s in Fz-Cz and Cz-Pz."},
    ]
    request = build_request(annotation, "conversation")
    sample = sample_from_reply(request, {"turns": turns}, annotation, "llm", "gemini-2.5-flash")
    assert verify_sample(sample) == []
    turns[1]["answer"] += " There is also an electrode pop at O2."
    sample = sample_from_reply(request, {"turns": turns}, annotation, "llm", "gemini-2.5-flash")
    assert verify_sample(sample) == ["invents electrode pop ('electrode pop'): absent from the annotation"]
