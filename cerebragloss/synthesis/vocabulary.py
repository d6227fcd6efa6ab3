"""Clinical words for the label spaces: how a caption names a class, and every way a text may name it.

Rules write with ``NAMES`` (the term an EEG report uses); verification searches a teacher's text
for every entry of ``WAVEFORM_PATTERNS`` / ``ARTIFACT_PATTERNS`` and the 10-20 electrode names, so
that both sides agree on what "mentioning a spindle" means. Patterns are ordered longest first:
"spike-and-slow-wave" must be consumed before "spike" and "slow wave" are looked for in it.
"""

from __future__ import annotations

import re

from cerebragloss.labels import ARTIFACT_TYPES, WAVEFORM_CLASSES
from cerebragloss.signals.montage import MONTAGES

#: The term a report uses, singular and plural.
NAMES: dict[str, tuple[str, str]] = {
    "spike": ("spike", "spikes"),
    "sharp_wave": ("sharp wave", "sharp waves"),
    "spike_and_slow_wave": ("spike-and-slow-wave complex", "spike-and-slow-wave complexes"),
    "sharp_and_slow_wave": ("sharp-and-slow-wave complex", "sharp-and-slow-wave complexes"),
    "polyspike": ("polyspike discharge", "polyspike discharges"),
    "k_complex": ("K-complex", "K-complexes"),
    "sleep_spindle": ("sleep spindle", "sleep spindles"),
    "vertex_wave": ("vertex wave", "vertex waves"),
    "posts": ("positive occipital sharp transient of sleep (POSTS)", "positive occipital sharp transients of sleep (POSTS)"),
    "emg": ("muscle (EMG) artifact", "muscle (EMG) artifacts"),
    "eog": ("eye movement (EOG) artifact", "eye movement (EOG) artifacts"),
    "breathing": ("respiratory/sweat sway artifact", "respiratory/sweat sway artifacts"),
    "electrode_pop": ("electrode pop", "electrode pops"),
    "electrode_noise": ("electrode noise", "electrode noise"),
    "flatline": ("flat (disconnected) channel", "flat (disconnected) channels"),
    "line_noise": ("mains (line-frequency) interference", "mains (line-frequency) interference"),
}

#: Uncountable names: "there is electrode noise", never "an electrode noise".
MASS_NOUNS = {"electrode_noise", "line_noise", "emg"}

#: Short option text for multiple-choice questions.
OPTION_NAMES: dict[str, str] = {
    "spike": "Spike",
    "sharp_wave": "Sharp wave",
    "spike_and_slow_wave": "Spike-and-slow-wave complex",
    "sharp_and_slow_wave": "Sharp-and-slow-wave complex",
    "polyspike": "Polyspike discharge",
    "k_complex": "K-complex",
    "sleep_spindle": "Sleep spindle",
    "vertex_wave": "Vertex wave",
    "posts": "Positive occipital sharp transient of sleep (POSTS)",
    "emg": "Muscle (EMG) artifact",
    "eog": "Eye movement (EOG) artifact",
    "breathing": "Respiratory/sweat sway artifact",
    "electrode_pop": "Electrode pop",
    "electrode_noise": "Electrode noise",
    "flatline": "Flat channel",
    "line_noise": "Mains interference",
}

_SEP = r"[\s-]*"
_AND = rf"{_SEP}(?:and|&){_SEP}"

#: Regular expressions (case-insensitive) by which a text names each waveform class.
WAVEFORM_PATTERNS: dict[str, tuple[str, ...]] = {
    "spike_and_slow_wave": (rf"spike{_AND}(?:slow{_SEP})?waves?(?:{_SEP}complex(?:es)?)?", rf"spike{_SEP}waves?", r"\bSSW\b"),
    "sharp_and_slow_wave": (rf"sharp{_AND}(?:slow{_SEP})?waves?(?:{_SEP}complex(?:es)?)?", r"\bShSW\b"),
    "polyspike": (r"poly[\s-]*spikes?", r"multiple[\s-]*spikes?"),
    "k_complex": (rf"\bK{_SEP}complex(?:es)?",),
    "sleep_spindle": (r"spindles?", r"sigma (?:bursts?|activity)"),
    "vertex_wave": (rf"vertex{_SEP}(?:sharp{_SEP})?(?:waves?|transients?)", r"\bV[\s-]waves?"),
    "posts": (r"\bPOSTS\b", rf"positive{_SEP}occipital{_SEP}sharp{_SEP}transients?"),
    "sharp_wave": (rf"sharp{_SEP}waves?", r"sharp transients?"),
    "spike": (r"\bspikes?\b", r"spiky"),
}

#: Regular expressions by which a text names each artifact type.
ARTIFACT_PATTERNS: dict[str, tuple[str, ...]] = {
    "emg": (r"\bEMG\b", r"muscle", r"myogenic"),
    "eog": (r"\bEOG\b", r"eye[\s-]*(?:movements?|blinks?)", r"blinks?", r"ocular"),
    "breathing": (r"breathing", r"respirat\w*", r"sweat", r"\bsway\b"),
    "electrode_pop": (rf"electrode{_SEP}pops?", r"\bpops?\b"),
    "electrode_noise": (rf"electrode{_SEP}noise", rf"(?:poor|bad|high){_SEP}(?:contact|impedance)", r"loose electrode"),
    "flatline": (r"flat[\s-]*(?:line|lined|channels?|signals?|electrodes?|trace)", r"disconnected"),
    "line_noise": (r"\b(?:50|60)[\s-]*Hz\b", r"mains", r"line[\s-]*(?:frequency|noise)", r"power[\s-]*line"),
}

#: 10-20 electrode names, both nomenclatures (T3=T7, T4=T8, T5=P7, T6=P8), as written in reports.
ELECTRODES: tuple[str, ...] = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4", "P8",
    "O1", "O2", "T3", "T4", "T5", "T6", "A1", "A2",
)  # fmt: skip
OLD_TO_NEW = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}

_ELECTRODE_PATTERN = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(sorted(ELECTRODES, key=len, reverse=True)) + r")(?![A-Za-z0-9])", re.IGNORECASE)
_CANONICAL = {name.lower(): OLD_TO_NEW.get(name, name) for name in ELECTRODES}

#: Head regions and the electrodes they take in (midline ones count for both sides).
REGION_ELECTRODES: dict[str, set[str]] = {
    "frontal": {"Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8"},
    "temporal": {"T7", "T8", "P7", "P8", "F7", "F8"},
    "central": {"C3", "Cz", "C4"},
    "parietal": {"P3", "Pz", "P4", "P7", "P8"},
    "occipital": {"O1", "O2"},
}
_TIE_ORDER = ("occipital", "central", "temporal", "parietal", "frontal")
LEFT = {"Fp1", "F7", "F3", "T7", "C3", "P7", "P3", "O1"}
RIGHT = {"Fp2", "F8", "F4", "T8", "C4", "P8", "P4", "O2"}

MONTAGE_NAMES: dict[str, str] = {
    "longitudinal_bipolar": "longitudinal bipolar (double banana)",
    "transverse_bipolar": "transverse bipolar",
    "average": "common average reference",
    "as_recorded": "referential (as recorded)",
}


def compile_patterns(patterns: dict[str, tuple[str, ...]]) -> list[tuple[str, re.Pattern]]:
    """(label, pattern) pairs, longest source first, so that nested names are consumed whole."""
    pairs = [(label, re.compile(source, re.IGNORECASE)) for label, sources in patterns.items() for source in sources]
    return sorted(pairs, key=lambda pair: -len(pair[1].pattern))


def electrodes_named(text: str) -> list[tuple[str, int, int]]:
    """Every 10-20 electrode a text names: (canonical name, start, end); "T3" reads as T7."""
    return [(_CANONICAL[m.group(1).lower()], m.start(), m.end()) for m in _ELECTRODE_PATTERN.finditer(text)]


def region_phrase(electrodes: list[str]) -> str:
    """"left temporal", "right frontal", "midline central", "bilateral occipital": where a set of
    electrodes lies, in report words (the region holding most of them)."""
    electrodes = [OLD_TO_NEW.get(e, e) for e in electrodes]
    if not electrodes:
        return "unspecified"
    # Ties go to the more specific region: P7-O1 reads as occipital, F8 alone as (anterior) temporal.
    region = max(_TIE_ORDER, key=lambda r: (len(REGION_ELECTRODES[r] & set(electrodes)), -_TIE_ORDER.index(r)))
    joined = {("parietal", "occipital"): "parieto-occipital", ("frontal", "central"): "fronto-central",
              ("central", "parietal"): "centro-parietal"}  # fmt: skip
    for (top, second), name in joined.items():
        if region == top and REGION_ELECTRODES[second] & set(electrodes) - REGION_ELECTRODES[top]:
            region = name
    left, right = len(LEFT & set(electrodes)), len(RIGHT & set(electrodes))
    side = "bilateral" if left and right else "left" if left else "right" if right else "midline"
    return f"{side} {region}"


assert set(NAMES) == set(WAVEFORM_CLASSES) | set(ARTIFACT_TYPES)
assert set(WAVEFORM_PATTERNS) == set(WAVEFORM_CLASSES) and set(ARTIFACT_PATTERNS) == set(ARTIFACT_TYPES)
assert set(MONTAGE_NAMES) == set(MONTAGES)
