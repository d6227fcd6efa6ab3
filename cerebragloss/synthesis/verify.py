"""Hallucination checks: does a teacher's text say only what its annotation says?

A teacher sample is rejected when it

- names a waveform class or artifact type that is not among the page's facts (``facts.py``),
- denies one that is (``"no spikes"`` on a page with a spike), or claims a waveform is absent
  where nothing looked for it (``PageFacts.searched``: no detector ran, or the page is outside the
  image detector's training pages and only the signal's sleep detectors looked),
- names an electrode or head region where nothing on the page is,
- (multiple choice) has other than 4 options, repeated options, or an answer that is not one of
  the options' letters.

Mentions inside a negated clause ("no spikes or sharp waves are seen") are absence claims, not
findings; a mention that is said not to have been assessed ("spikes could not be assessed") claims
neither, and is accepted for a class the page does not state. Only the assistant's side is checked: a user question may ask about anything, and the
distractors of a multiple-choice question are wrong on purpose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cerebragloss.synthesis.facts import PageFacts, page_facts
from cerebragloss.synthesis.samples import sample_problems
from cerebragloss.synthesis.vocabulary import (
    ARTIFACT_PATTERNS,
    LEFT,
    NAMES,
    REGION_ELECTRODES,
    RIGHT,
    WAVEFORM_PATTERNS,
    compile_patterns,
    electrodes_named,
)

_WAVEFORMS = compile_patterns(WAVEFORM_PATTERNS)
_ARTIFACTS = compile_patterns(ARTIFACT_PATTERNS)
_NEGATION_BEFORE = re.compile(
    r"\b(?:no|not|without|absent|absence|neither|nor|free of|lack|lacks|lacking|rule out|ruled out|never|cannot|none)\b", re.IGNORECASE
)
_NEGATION_AFTER = re.compile(r"^[^.;:]{0,40}?\b(?:not (?:seen|present|identified|observed|detected)|absent|are none)\b", re.IGNORECASE)
#: between a name and "... not assessed" only more names and "and/or" may stand ("spikes, sharp
#: waves and POSTS were not assessed"), so "a spike is seen and POSTS were not assessed" still
#: states a spike
_NAMES_GAP = "(?:" + "|".join([*(s for sources in WAVEFORM_PATTERNS.values() for s in sources), r"\s", ",", r"\band\b", r"\bor\b", r"\(", r"\)"]) + ")*"
_UNASSESSED_AFTER = re.compile(
    rf"^{_NAMES_GAP}(?:(?:were|was|are|is|could|can)\s+)?(?:not|cannot)\s+(?:be\s+)?(?:assessed|evaluated|searched for|looked for)\b", re.IGNORECASE
)
_UNASSESSED_BEFORE = re.compile(r"\b(?:not|cannot)\s+(?:be\s+)?(?:assessed|evaluated|searched|looked)\s+for\s+(?:the\s+)?(?:any\s+)?$", re.IGNORECASE)
_CONTRAST = re.compile(r"\b(?:but|however|although|though|whereas|while)\b", re.IGNORECASE)
_REGION = re.compile(r"\b(?:(left|right|bilateral)\s+)?(front|tempor|centr|pariet|occipit)(?:al|o)\b", re.IGNORECASE)
_STEM_REGION = {"front": "frontal", "tempor": "temporal", "centr": "central", "pariet": "parietal", "occipit": "occipital"}
#: a posterior dominant rhythm is seen over the whole posterior head, not only at its best channel
_POSTERIOR = {"P3", "P4", "P7", "P8", "Pz", "O1", "O2"}


@dataclass(frozen=True)
class Mention:
    kind: str  # waveform | artifact
    label: str
    text: str
    negated: bool
    #: said not to have been looked for ("spikes were not assessed"): neither present nor absent
    unassessed: bool = False


def _clause_start(text: str, position: int) -> int:
    return max(text.rfind(mark, 0, position) for mark in (".", ";", "?", "!", "\n")) + 1


def is_negated(text: str, start: int, end: int) -> bool:
    """Whether the mention at ``text[start:end]`` sits in a negated clause: a negation cue earlier
    in its clause with no "but/however" in between, or "... is not seen" right after it."""
    before = text[_clause_start(text, start) : start]
    cues = list(_NEGATION_BEFORE.finditer(before))
    if cues and not _CONTRAST.search(before[cues[-1].end() :]):
        return True
    return bool(_NEGATION_AFTER.match(text[end:]))


def is_unassessed(text: str, start: int, end: int) -> bool:
    """Whether the mention at ``text[start:end]`` is said not to have been looked for ("spikes were
    not assessed", "not searched for spikes"): neither a finding nor an absence claim."""
    return bool(_UNASSESSED_AFTER.match(text[end:]) or _UNASSESSED_BEFORE.search(text[_clause_start(text, start) : start]))


def mentions(text: str) -> list[Mention]:
    """Every waveform and artifact a text names, longest names first so that a
    "spike-and-slow-wave complex" is not also read as a "spike"."""
    found = []
    masked = text
    for kind, patterns in (("waveform", _WAVEFORMS), ("artifact", _ARTIFACTS)):
        for label, pattern in patterns:
            for match in pattern.finditer(masked):
                unassessed = is_unassessed(masked, match.start(), match.end())
                negated = not unassessed and is_negated(masked, match.start(), match.end())
                found.append(Mention(kind, label, match.group(0), negated, unassessed))
                masked = masked[: match.start()] + " " * (match.end() - match.start()) + masked[match.end() :]
    return found


def allowed_electrodes(facts: PageFacts) -> set[str]:
    allowed = facts.electrodes()
    if facts.background.pdr_present:
        allowed |= _POSTERIOR
    return allowed


def location_problems(text: str, facts: PageFacts) -> list[str]:
    """Electrodes and regions a text names where none of the page's facts are."""
    allowed = allowed_electrodes(facts)
    problems = []
    for electrode, start, end in electrodes_named(text):
        if electrode not in allowed and not is_negated(text, start, end):
            problems.append(f"names electrode {electrode}, where the annotation has nothing")
    for match in _REGION.finditer(text):
        side, stem = (match.group(1) or "").lower(), match.group(2).lower()
        region = REGION_ELECTRODES[_STEM_REGION[stem]]
        if side == "left":
            region = region & LEFT
        elif side == "right":
            region = region & RIGHT
        if not region & allowed and not is_negated(text, match.start(), match.end()):
            problems.append(f"names the {match.group(0).lower()} region, where the annotation has nothing")
    return list(dict.fromkeys(problems))


def text_problems(text: str, facts: PageFacts) -> list[str]:
    """Everything a text claims beyond (or against) the page's facts."""
    problems = []
    present = {"waveform": facts.classes, "artifact": facts.artifact_types}
    for mention in mentions(text):
        name = NAMES[mention.label][0]
        if mention.unassessed:
            if mention.label in present[mention.kind]:
                problems.append(f"says {name} was not assessed ({mention.text!r}): the annotation has it")
        elif mention.negated:
            if mention.label in present[mention.kind]:
                problems.append(f"denies {name} ({mention.text!r}): the annotation has it")
            elif mention.kind == "waveform" and mention.label not in facts.searched:
                problems.append(f"claims no {name} although {facts.not_searched_because(mention.label)} ({mention.text!r})")
        elif mention.label not in present[mention.kind]:
            problems.append(f"invents {name} ({mention.text!r}): absent from the annotation")
    return list(dict.fromkeys(problems + location_problems(text, facts)))


def checked_texts(sample: dict) -> list[str]:
    """The parts of a sample that state findings: the assistant's turns (a multiple-choice answer
    is the right option and its explanation), and a multiple-choice question's stem (a question
    "which waveform is at T4?" asserts something at T4); never the distractors."""
    texts = [m["content"] for m in sample["messages"] if m["role"] == "assistant"]
    if sample.get("options"):
        texts.insert(0, sample["messages"][0]["content"].split("\nA. ", 1)[0])
    return [t for t in texts if t]


def verify_sample(sample: dict, annotation: dict | None = None) -> list[str]:
    """Why a sample must be rejected (empty: it may be kept)."""
    annotation = annotation if annotation is not None else sample["annotation"]
    facts = page_facts(annotation)
    problems = sample_problems(sample)
    for text in checked_texts(sample):
        problems += text_problems(text, facts)
    return list(dict.fromkeys(problems))
