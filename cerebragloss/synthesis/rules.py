"""Rule-based synthesis: captions, multiple-choice and binary questions from a SegmentAnnotation.

Only facts that survived cleaning are stated (``facts.py``). Phrasing varies through several
templates per fact, picked by a generator seeded with the page key and the settings' seed, so a
rerun writes the same text and two pages with the same findings read differently. Absence ("no
epileptiform discharges", "is there a spike? no") is only claimed for the classes a detector
looked for on a page its search covers (``PageFacts.searched``); a page outside the image
detector's training pages says that epileptiform discharges were not assessed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from cerebragloss.labels import (
    ARTIFACT_TYPES,
    BANDS,
    EPILEPTIFORM_CLASSES,
    SLEEP_CLASSES,
    WAVEFORM_CLASSES,
)
from cerebragloss.synthesis.facts import EventFact, PageFacts, page_facts
from cerebragloss.synthesis.samples import IMAGE_PLACEHOLDER, LETTERS, make_sample, mcq_prompt
from cerebragloss.synthesis.vocabulary import (
    ELECTRODES,
    MASS_NOUNS,
    MONTAGE_NAMES,
    NAMES,
    OLD_TO_NEW,
    OPTION_NAMES,
    region_phrase,
)

MCQ_OPTION_ORDERS = ("shuffled", "clinical")


@dataclass
class RuleSettings:
    """How many rule samples each page gives, and the seed of their phrasing."""

    captions_per_page: int = 1
    mcq_per_page: int = 2
    binary_per_page: int = 2
    seed: int = 0
    #: the order of an MCQ's options: ``shuffled`` (the paper's; the answer's letter is random) or
    #: ``clinical`` (each label space's fixed order - bands by frequency, artifact and waveform
    #: classes as listed in ``cerebragloss.labels``, electrodes as in 10-20 charts - so a letter
    #: follows from what the options are: ``clinical_order``). Same distractors either way.
    mcq_option_order: str = "shuffled"

    def __post_init__(self):
        if self.mcq_option_order not in MCQ_OPTION_ORDERS:
            raise ValueError(f"rules.mcq_option_order: {self.mcq_option_order!r} is not one of {', '.join(MCQ_OPTION_ORDERS)}")


def page_rng(key: str, seed: int, salt: str = "") -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{salt}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _pick(rng: np.random.Generator, templates: tuple[str, ...]) -> str:
    return templates[int(rng.integers(len(templates)))]


def _list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _name(label: str, count: int = 1) -> str:
    return NAMES[label][0 if count == 1 else 1]


def _article(phrase: str) -> str:
    return ("an " if phrase[0].lower() in "aeio" else "a ") + phrase


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _some(label: str) -> str:
    """"a sleep spindle", "an electrode pop", "electrode noise"."""
    return _name(label) if label in MASS_NOUNS else _article(_name(label))


def occurrences(events: list[EventFact], gap_s: float = 0.05) -> list[list[EventFact]]:
    """Events of one class grouped by time: the detector boxes one POSTS once per channel pair,
    a reader counts it once."""
    groups: list[list[EventFact]] = []
    for event in sorted(events, key=lambda e: e.start_s):
        if groups and event.start_s <= max(e.end_s for e in groups[-1]) + gap_s:
            groups[-1].append(event)
        else:
            groups.append([event])
    return groups


# ---------------------------------------------------------------------------------------------
# Caption sentences, one function per fact group. Each returns "" when it has nothing to say.

CAPTION_PROMPTS = (
    "Describe this EEG page in detail.",
    "Write a detailed description of this 10-second EEG page.",
    "What does this EEG page show? Describe the background, any transients and any artifacts.",
    "Provide a detailed EEG report for this page.",
    "Interpret this EEG segment.",
)


def montage_sentence(facts: PageFacts, rng) -> str:
    montage = MONTAGE_NAMES.get(facts.montage, facts.montage.replace("_", " "))
    sentence = _pick(rng, (
        f"This {facts.duration_s:g}-second page is displayed in the {montage} montage.",
        f"The page shows {facts.duration_s:g} s of EEG in a {montage} montage.",
        f"Montage: {montage}; {len(facts.channels)} channels, {facts.duration_s:g} s.",
    ))  # fmt: skip
    if facts.missing:
        sentence += f" Electrodes {_list(list(facts.missing))} are missing from the recording."
    return sentence


def background_sentence(facts: PageFacts, rng) -> str:
    b = facts.background
    if b.pdr_present:
        pdr = _pick(rng, (
            f"A posterior dominant rhythm of {b.pdr_hz:.1f} Hz ({b.pdr_band}) is present, about {b.pdr_uv:.0f} µV, best seen in {b.pdr_channel}.",
            f"The posterior dominant rhythm is {b.pdr_hz:.1f} Hz {b.pdr_band} activity of about {b.pdr_uv:.0f} µV ({b.pdr_channel}).",
            f"Posteriorly there is a {b.pdr_hz:.1f} Hz {b.pdr_band} rhythm of about {b.pdr_uv:.0f} µV, maximal in {b.pdr_channel}.",
        ))  # fmt: skip
    else:
        pdr = _pick(rng, ("No clear posterior dominant rhythm is seen.", "A posterior dominant rhythm is not identified."))
    overall = _pick(rng, (
        f"The background consists of {b.voltage} {b.prevailing_band} activity (median half peak-to-peak amplitude {b.median_uv:.0f} µV).",
        f"Background activity is {b.voltage}, predominantly in the {b.prevailing_band} band (median {b.median_uv:.0f} µV).",
        f"{b.voltage.capitalize()} {b.prevailing_band} activity makes up most of the background (median {b.median_uv:.0f} µV).",
    ))  # fmt: skip
    if b.symmetric:
        side = _pick(rng, ("The background is symmetric.", "Left and right hemispheres are symmetric in amplitude."))
    else:
        lower, left, right, ratio = min(b.asymmetries, key=lambda a: a[3])
        side = f"There is an amplitude asymmetry, lower on the {lower} ({left} vs {right}, ratio {ratio:.2f})."
    return " ".join((overall, pdr, side))


def _event_group_sentence(label: str, events: list[EventFact], rng) -> str:
    channels = list(dict.fromkeys(c for e in events for c in e.channels))
    region = region_phrase([x for e in events for x in e.electrodes])
    groups = occurrences(events)
    count = len(groups)
    what = _name(label, count)
    amount = _article(what) if count == 1 else f"{count} {what}"
    times = _list([f"{g[0].start_s:.1f} s" for g in groups])
    return _pick(rng, (
        f"There {'is' if count == 1 else 'are'} {amount} at {times} over the {region} region ({_list(channels)}).",
        f"{_cap(amount)} {'is' if count == 1 else 'are'} seen in {_list(channels)} at {times}.",
        f"{_list(channels)} show{'s' if len(channels) == 1 else ''} {amount} ({region}) at {times}.",
    ))  # fmt: skip


def sleep_sentence(facts: PageFacts, rng) -> str:
    if not facts.sleep:
        searched = facts.sleep_searched
        if searched == SLEEP_CLASSES:
            return _pick(rng, ("No sleep transients are seen.", "There are no sleep transients on this page."))
        if not searched:
            return ""
        # only the signal's detectors looked: vertex waves and POSTS were not looked for
        names = " or ".join(_name(label, 2) for label in searched)
        return _pick(rng, (f"No {names} are found.", f"There are no {names} on this page."))
    by_class = {label: [e for e in facts.sleep if e.label == label] for label in SLEEP_CLASSES}
    return " ".join(_event_group_sentence(label, events, rng) for label, events in by_class.items() if events)


def epileptiform_sentence(facts: PageFacts, rng) -> str:
    if not facts.epileptiform:
        if facts.epileptiform_searched:
            return _pick(rng, ("No epileptiform discharges are seen.", "There are no spikes or sharp waves on this page.",
                               "No epileptiform activity is identified."))  # fmt: skip
        if facts.detector_outside:
            # named without a class: "spikes were not assessed" would read as a finding of spikes
            return _pick(rng, (
                "Epileptiform discharges were not assessed: this page layout is outside what the automated waveform search covers.",
                "The automated waveform search does not cover this page layout, so epileptiform discharges were not assessed.",
            ))  # fmt: skip
        return ""
    sentences = []
    for event in facts.epileptiform:
        what = _name(event.label)
        where = _list(list(event.channels))
        head = _pick(rng, (
            f"{_cap(_article(what))} occurs at {event.start_s:.1f} s in {where}",
            f"At {event.start_s:.1f} s there is {_article(what)} in {where}",
            f"{_cap(_article(what))} is seen in {where} at {event.start_s:.1f} s",
        ))  # fmt: skip
        if event.focus:
            reason = f" ({event.focus_method})" if event.focus_method else ""
            head += f", with maximal negativity at {event.focus}{reason}, {event.region}"
        sentences.append(head + ".")
    return " ".join(sentences)


def artifact_sentence(facts: PageFacts, rng) -> str:
    if not facts.artifacts:
        return _pick(rng, ("No artifacts are identified.", "The page is free of artifact.", "No significant artifacts are present."))
    sentences = []
    for label in ARTIFACT_TYPES:
        found = [a for a in facts.artifacts if a.label == label]
        if not found:
            continue
        channels = list(dict.fromkeys(c for a in found for c in a.channels))
        spans = _list([f"{a.start_s:.1f}-{a.end_s:.1f} s" for a in found])
        what = _name(label, len(found))
        sentences.append(_pick(rng, (
            f"{_cap(what)} {'is' if len(found) == 1 or label.endswith('noise') else 'are'} seen in {_list(channels)} ({spans}).",
            f"{_list(channels)} {'is' if len(channels) == 1 else 'are'} affected by {what} at {spans}.",
        )))  # fmt: skip
    return " ".join(sentences)


def caption(facts: PageFacts, seed: int = 0, variant: int = 0) -> str:
    """A detailed caption of one page, in report order: montage, background, sleep transients,
    epileptiform activity (with the dipole estimate), artifacts."""
    rng = page_rng(facts.key, seed, f"caption{variant}")
    parts = [montage_sentence(facts, rng), background_sentence(facts, rng), sleep_sentence(facts, rng),
             epileptiform_sentence(facts, rng), artifact_sentence(facts, rng)]  # fmt: skip
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# Multiple-choice questions: each maker returns (question, right option, distractor pool) or None.


def _mcq_waveform(facts: PageFacts, rng):
    if not facts.events:
        return None
    event = facts.events[int(rng.integers(len(facts.events)))]
    pool = [OPTION_NAMES[c] for c in WAVEFORM_CLASSES if c != event.label]
    question = _pick(rng, (
        f"Which waveform is seen in {_list(list(event.channels))} at about {event.start_s:.1f} s?",
        f"What is the transient at {event.start_s:.1f} s in {_list(list(event.channels))}?",
    ))  # fmt: skip
    return question, OPTION_NAMES[event.label], pool


def _mcq_focus(facts: PageFacts, rng):
    located = [e for e in facts.epileptiform if e.focus]
    if not located:
        return None
    event = located[int(rng.integers(len(located)))]
    page_electrodes = sorted({x for c in facts.channels for x in c.split("-") if x and x != event.focus})
    near = [x for x in event.electrodes if x != event.focus]
    pool = near + [x for x in page_electrodes if x not in near]
    question = f"Where is the maximal negativity (the dipole's negative pole) of the {_name(event.label)} at {event.start_s:.1f} s?"
    return question, event.focus, pool


def _mcq_artifact(facts: PageFacts, rng):
    if not facts.artifacts:
        return None
    artifact = facts.artifacts[int(rng.integers(len(facts.artifacts)))]
    others = [a for a in ARTIFACT_TYPES if a != artifact.label]
    question = f"Which artifact affects {_list(list(artifact.channels))} between {artifact.start_s:.1f} and {artifact.end_s:.1f} s?"
    return question, OPTION_NAMES[artifact.label], [OPTION_NAMES[a] for a in others]


def _mcq_pdr(facts: PageFacts, rng):
    b = facts.background
    if not b.pdr_present or b.pdr_band not in ("delta", "theta", "alpha", "beta"):
        return None
    pool = [name for name, _, _ in BANDS[:4] if name != b.pdr_band]
    return "In which frequency band is the posterior dominant rhythm?", b.pdr_band, pool


def _mcq_background(facts: PageFacts, rng):
    band = facts.background.prevailing_band
    if band not in ("delta", "theta", "alpha", "beta"):
        return None
    pool = [name for name, _, _ in BANDS[:4] if name != band]
    return "Which frequency band dominates the background activity of this page?", band, pool


def _mcq_montage(facts: PageFacts, rng):
    if facts.montage not in MONTAGE_NAMES:
        return None
    pool = [name for key, name in MONTAGE_NAMES.items() if key != facts.montage]
    return "In which montage is this page displayed?", MONTAGE_NAMES[facts.montage], pool


def _mcq_present(facts: PageFacts, rng):
    """One finding present, three absent ones (absent waveforms only of the classes looked for)."""
    present = [OPTION_NAMES[c] for c in sorted(facts.classes)] + [OPTION_NAMES[a] for a in sorted(facts.artifact_types)]
    if not present:
        return None
    absent = [OPTION_NAMES[a] for a in ARTIFACT_TYPES if a not in facts.artifact_types]
    absent += [OPTION_NAMES[c] for c in WAVEFORM_CLASSES if c in facts.searched and c not in facts.classes]
    return "Which of the following is present on this page?", present[int(rng.integers(len(present)))], absent


MCQ_MAKERS = (_mcq_waveform, _mcq_focus, _mcq_artifact, _mcq_pdr, _mcq_background, _mcq_montage, _mcq_present)

#: every MCQ option text in its label space's clinical order (``clinical_order``)
_CLINICAL_RANK = {text.lower(): rank for rank, text in enumerate(dict.fromkeys(
    [name for name, _, _ in BANDS] + [OPTION_NAMES[c] for c in (*ARTIFACT_TYPES, *WAVEFORM_CLASSES)]
    + list(MONTAGE_NAMES.values()) + [OLD_TO_NEW.get(e, e) for e in ELECTRODES]))}  # fmt: skip


def clinical_order(options: list[str]) -> list[str]:
    """``options`` in their label space's fixed order (bands delta -> beta, artifact types then
    waveform classes as ``cerebragloss.labels`` lists them, montages, 10-20 electrodes front to
    back). With it the answer's letter is a function of the options and the answer (a background
    band question always reads delta A, theta B, alpha C, beta D), as in a printed exam whose
    choices are always listed in one order; an image-blind model sees the same order."""
    return sorted(options, key=lambda option: _CLINICAL_RANK.get(option.lower(), len(_CLINICAL_RANK)))


def multiple_choice(facts: PageFacts, count: int, seed: int = 0, option_order: str = "shuffled") -> list[tuple[str, list[str], str]]:
    """Up to ``count`` questions ``(question, 4 options, answer letter)``, each from a different
    maker, favouring the page's findings; distractors are drawn from the same label space. The
    options are shuffled, or in ``clinical_order`` (``RuleSettings.mcq_option_order``)."""
    if count <= 0:
        return []
    rng = page_rng(facts.key, seed, "mcq")
    order = list(rng.permutation(len(MCQ_MAKERS)))
    # Findings first: a question about what is on the page teaches more than the montage name.
    order.sort(key=lambda i: i >= 3)
    questions = []
    for index in order:
        made = MCQ_MAKERS[index](facts, rng)
        if made is None:
            continue
        question, right, pool = made
        pool = list(dict.fromkeys(p for p in pool if p.lower() != right.lower()))
        if len(pool) < 3:
            continue
        distractors = [pool[i] for i in rng.choice(len(pool), size=3, replace=False)]
        options = distractors + [right]
        options = [options[i] for i in rng.permutation(4)]  # drawn either way: the same rng stream after
        if option_order == "clinical":
            options = clinical_order(options)
        questions.append((question, options, LETTERS[options.index(right)]))
        if len(questions) == count:
            break
    return questions


# ---------------------------------------------------------------------------------------------
# Binary questions: (question, "yes"|"no", one sentence of reason).


def _binary_waveform(facts: PageFacts, rng, want_yes: bool):
    absent = [c for c in WAVEFORM_CLASSES if c in facts.searched and c not in facts.classes]
    if facts.events and (want_yes or not absent):
        event = facts.events[int(rng.integers(len(facts.events)))]
        return f"Is there {_some(event.label)} on this page?", "yes", f"It is at {event.start_s:.1f} s in {_list(list(event.channels))}."
    if not absent:
        return None
    label = absent[int(rng.integers(len(absent)))]
    return f"Is there {_some(label)} on this page?", "no", f"No {_name(label, 2)} are seen."


def _binary_epileptiform(facts: PageFacts, rng, want_yes: bool):
    if facts.epileptiform:
        first = facts.epileptiform[0]
        return "Does this page contain epileptiform discharges?", "yes", f"{_cap(_article(_name(first.label)))} is seen at {first.start_s:.1f} s."
    if not facts.epileptiform_searched:
        return None
    return "Does this page contain epileptiform discharges?", "no", "No spikes or sharp waves are seen."


def _binary_artifact(facts: PageFacts, rng, want_yes: bool):
    if want_yes and facts.artifacts:
        artifact = facts.artifacts[int(rng.integers(len(facts.artifacts)))]
        return (f"Is there {_some(artifact.label)} on this page?", "yes",
                f"It is seen in {_list(list(artifact.channels))} at {artifact.start_s:.1f}-{artifact.end_s:.1f} s.")  # fmt: skip
    absent = [a for a in ARTIFACT_TYPES if a not in facts.artifact_types]
    label = absent[int(rng.integers(len(absent)))]
    # uncountable: "no electrode noise is seen", "no muscle (EMG) artifact is seen"
    what = f"{_name(label)} is" if label in MASS_NOUNS else f"{_name(label, 2)} are"
    return f"Is there {_some(label)} on this page?", "no", f"No {what} seen."


def _binary_pdr(facts: PageFacts, rng, want_yes: bool):
    b = facts.background
    if b.pdr_present:
        return "Is a posterior dominant rhythm present?", "yes", f"It is {b.pdr_hz:.1f} Hz ({b.pdr_band})."
    return "Is a posterior dominant rhythm present?", "no", "No clear posterior dominant rhythm is seen."


def _binary_symmetry(facts: PageFacts, rng, want_yes: bool):
    b = facts.background
    if b.symmetric:
        return "Is the background symmetric between the hemispheres?", "yes", "Homologous channels have similar amplitudes."
    lower, left, right, ratio = min(b.asymmetries, key=lambda a: a[3])
    return "Is the background symmetric between the hemispheres?", "no", f"Amplitude is lower on the {lower} ({left} vs {right}, ratio {ratio:.2f})."


def _binary_background(facts: PageFacts, rng, want_yes: bool):
    band = facts.background.prevailing_band
    if band not in ("delta", "theta", "alpha", "beta"):
        return None
    if band == "delta":
        return "Does delta activity dominate the background?", "yes", "The background is mostly delta activity."
    return "Does delta activity dominate the background?", "no", f"The background is mostly {band} activity."


BINARY_MAKERS = (_binary_waveform, _binary_epileptiform, _binary_artifact, _binary_pdr, _binary_symmetry)
#: asked after the kinds above, only where a page gets more questions than they give (tools/learn.py
#: asks 6 per page), so that the questions of runs with fewer per page stay as they were
MORE_BINARY_MAKERS = (_binary_background,)


def binary_questions(facts: PageFacts, count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """Up to ``count`` yes/no questions, alternating the wanted answer so both occur."""
    if count <= 0:
        return []
    rng = page_rng(facts.key, seed, "binary")
    questions = []
    for position, index in enumerate(rng.permutation(len(BINARY_MAKERS))):
        made = BINARY_MAKERS[index](facts, rng, want_yes=position % 2 == 0)
        if made is not None:
            questions.append(made)
        if len(questions) == count:
            return questions
    for maker in MORE_BINARY_MAKERS:
        made = maker(facts, rng, want_yes=len(questions) % 2 == 0)
        if made is not None:
            questions.append(made)
        if len(questions) == count:
            break
    return questions


# ---------------------------------------------------------------------------------------------


def rule_samples(annotation: dict, settings: RuleSettings | None = None) -> list[dict]:
    """Every rule Sample of one page (without the image; the shard writer adds it)."""
    settings = settings or RuleSettings()
    facts = page_facts(annotation)
    rng = page_rng(facts.key, settings.seed, "prompts")
    common = {"subject": facts.subject, "recording": facts.recording, "annotation": annotation, "page": annotation.get("page")}
    samples = []
    for variant in range(settings.captions_per_page):
        text = caption(facts, settings.seed, variant)
        messages = [{"role": "user", "content": f"{IMAGE_PLACEHOLDER}\n{_pick(rng, CAPTION_PROMPTS)}"}, {"role": "assistant", "content": text}]
        samples.append(make_sample(id=f"{facts.key}-caption-{variant}", task="caption", source="rule", messages=messages, **common))
    for n, (question, options, letter) in enumerate(multiple_choice(facts, settings.mcq_per_page, settings.seed, settings.mcq_option_order)):
        messages = [
            {"role": "user", "content": f"{IMAGE_PLACEHOLDER}\n{mcq_prompt(question, options)}"},
            {"role": "assistant", "content": f"{letter}. {options[LETTERS.index(letter)]}"},
        ]
        samples.append(make_sample(id=f"{facts.key}-mcq-{n}", task="mcq", source="rule", messages=messages,
                                   answer=letter, options=options, **common))  # fmt: skip
    for n, (question, answer, reason) in enumerate(binary_questions(facts, settings.binary_per_page, settings.seed)):
        messages = [
            {"role": "user", "content": f"{IMAGE_PLACEHOLDER}\n{question} Answer yes or no."},
            {"role": "assistant", "content": f"{answer.capitalize()}. {reason}"},
        ]
        samples.append(make_sample(id=f"{facts.key}-binary-{n}", task="binary", source="rule", messages=messages, answer=answer, **common))
    return samples


assert set(EPILEPTIFORM_CLASSES) | set(SLEEP_CLASSES) == set(WAVEFORM_CLASSES)
