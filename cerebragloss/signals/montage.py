"""Clinical montages, each derived only from the electrodes a recording has.

A montage is a list of derivations ``(active, reference)``; ``reference`` is None for a
referential channel (against the recording reference) and ``"AVG"`` for the common average.
A derivation whose electrodes are missing is left out and reported, so a recording with five
electrodes still gives the derivations it can.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cerebragloss.signals.channels import TEN_TWENTY, is_derivation

#: The 18-channel longitudinal bipolar ("double banana"): left and right temporal chains, left and
#: right parasagittal chains, then the midline.
LONGITUDINAL_BIPOLAR: tuple[tuple[str, str], ...] = (
    ("Fp1", "F7"), ("F7", "T7"), ("T7", "P7"), ("P7", "O1"),
    ("Fp2", "F8"), ("F8", "T8"), ("T8", "P8"), ("P8", "O2"),
    ("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("Fp2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
    ("Fz", "Cz"), ("Cz", "Pz"),
)  # fmt: skip

#: The 18-channel transverse bipolar: rows from front to back, each from left to right.
TRANSVERSE_BIPOLAR: tuple[tuple[str, str], ...] = (
    ("F7", "Fp1"), ("Fp1", "Fp2"), ("Fp2", "F8"),
    ("F7", "F3"), ("F3", "Fz"), ("Fz", "F4"), ("F4", "F8"),
    ("T7", "C3"), ("C3", "Cz"), ("Cz", "C4"), ("C4", "T8"),
    ("P7", "P3"), ("P3", "Pz"), ("Pz", "P4"), ("P4", "P8"),
    ("P7", "O1"), ("O1", "O2"), ("O2", "P8"),
)  # fmt: skip

MONTAGES = ("as_recorded", "average", "longitudinal_bipolar", "transverse_bipolar")
#: The montage name that asks for the best montage a recording allows (see :func:`choose_montage`).
AUTO = "auto"
#: Other names users type for the same montages.
MONTAGE_ALIASES = {
    "referential": "as_recorded",
    "monopolar": "as_recorded",
    "car": "average",
    "common_average": "average",
    "double_banana": "longitudinal_bipolar",
    "bipolar": "longitudinal_bipolar",
    "transverse": "transverse_bipolar",
    "best": AUTO,
    "default": AUTO,
}
#: Fewest 10-20 electrodes for a meaningful common average (with one, every channel is zero).
MIN_AVERAGE_ELECTRODES = 3
#: The double banana is chosen when its chains pass through at least this share of the 10-20
#: electrodes present: a recording missing a few electrodes still reads best in it, but with
#: scattered electrodes (F3 C3 Cz C4: one pair) it would hide most of the head.
MIN_BIPOLAR_COVERAGE = 0.8


class MontageError(ValueError):
    """The montage cannot be built from this recording's electrodes."""


@dataclass
class MontageResult:
    """A montage applied to a recording: ``data`` is ``[len(channels), samples]``."""

    name: str
    channels: list[str]
    derivations: list[tuple[str, str | None]]
    data: np.ndarray
    missing_electrodes: list[str] = field(default_factory=list)
    skipped_derivations: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = f"{self.name}: {len(self.channels)} channels"
        if self.skipped_derivations:
            text += f", left out {' '.join(self.skipped_derivations)} (missing {' '.join(self.missing_electrodes)})"
        elif self.missing_electrodes:
            text += f" (missing {' '.join(self.missing_electrodes)})"
        return text


def canonical_montage(name: str, *, allow_auto: bool = False) -> str:
    """The canonical name of a montage (``double_banana`` -> ``longitudinal_bipolar``); ``auto``
    (the best one a recording allows, decided per recording) where ``allow_auto``."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = MONTAGE_ALIASES.get(key, key)
    if key == AUTO and allow_auto:
        return key
    if key not in MONTAGES:
        choices = ", ".join((AUTO, *MONTAGES) if allow_auto else MONTAGES)
        raise MontageError(f"unknown montage {name!r}; choose one of {choices}")
    return key


def derivations_for(name: str, electrodes: list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """The derivations of montage ``name`` that ``electrodes`` allow, and the labels left out."""
    name = canonical_montage(name)
    present = set(electrodes)
    scalp = [e for e in TEN_TWENTY if e in present]
    if name == "as_recorded":  # a recording of bipolar derivations only has them as its rows
        return [(e, None) for e in scalp] + [(e, None) for e in electrodes if is_derivation(e)], []
    if name == "average":
        return [(e, "AVG") for e in scalp], []
    pairs = LONGITUDINAL_BIPOLAR if name == "longitudinal_bipolar" else TRANSVERSE_BIPOLAR
    kept = [(a, b) for a, b in pairs if a in present and b in present]
    skipped = [f"{a}-{b}" for a, b in pairs if not (a in present and b in present)]
    return kept, skipped


def available_montages(electrodes: list[str]) -> list[str]:
    """The montages that give at least one channel for these electrodes."""
    names = []
    for name in MONTAGES:
        derivations, _ = derivations_for(name, electrodes)
        enough = len(derivations) >= (MIN_AVERAGE_ELECTRODES if name == "average" else 1)
        if enough:
            names.append(name)
    return names


@dataclass(frozen=True)
class MontageChoice:
    """The montage a recording is drawn in and why (``reason`` is one line for logs and summaries)."""

    name: str
    reason: str

    def describe(self) -> str:
        return f"{self.name} ({self.reason})"


def choose_montage(electrodes: list[str], requested: str = AUTO) -> MontageChoice:
    """The montage to draw a recording with these electrodes in, and why.

    ``requested`` other than ``auto`` is taken as asked (the reason says so; whether it can be
    built is :func:`apply_montage`'s to say). ``auto`` picks, in the order a clinical reader
    prefers: the double banana where its chains pass through at least ``MIN_BIPOLAR_COVERAGE`` of
    the 10-20 electrodes present, else the common average (3 or more electrodes), else the
    channels as recorded. Raises :class:`MontageError` when no 10-20 electrode is present.
    """
    name = canonical_montage(requested, allow_auto=True)
    if name != AUTO:
        return MontageChoice(name, "as asked")
    scalp = [e for e in TEN_TWENTY if e in set(electrodes)]
    recorded_pairs = [e for e in electrodes if is_derivation(e)]
    if not scalp and recorded_pairs:
        return MontageChoice("as_recorded", f"only bipolar derivations were recorded ({' '.join(recorded_pairs)})")
    if not scalp:
        others = f" (EEG channels: {' '.join(electrodes)})" if electrodes else ""
        raise MontageError(f"no montage possible: no 10-20 electrode{others}")
    pairs, _ = derivations_for("longitudinal_bipolar", scalp)
    on_chains = {e for pair in pairs for e in pair}
    coverage = f"{len(on_chains)} of {len(scalp)} 10-20 electrodes"
    if pairs and len(on_chains) >= MIN_BIPOLAR_COVERAGE * len(scalp):
        return MontageChoice("longitudinal_bipolar", f"double banana: {len(pairs)} of 18 derivations, chains through {coverage}")
    why_not_bipolar = (
        f"double banana would reach only {coverage}" if pairs else f"no neighbouring pair for a double banana among {' '.join(scalp)}"
    )
    if len(scalp) >= MIN_AVERAGE_ELECTRODES:
        return MontageChoice("average", f"{why_not_bipolar}; common average of {len(scalp)} electrodes")
    return MontageChoice(
        "as_recorded",
        f"{why_not_bipolar}; a common average needs {MIN_AVERAGE_ELECTRODES} electrodes, "
        f"so {' '.join(scalp)} as recorded",
    )


def apply_montage(data: np.ndarray, electrodes: list[str], name: str) -> MontageResult:
    """Derive montage ``name`` from referential ``data`` ``[electrodes, samples]``; ``auto``
    derives the one :func:`choose_montage` picks.

    Raises :class:`MontageError` (naming the missing electrodes) when no derivation is possible.
    """
    name = choose_montage(electrodes, name).name
    derivations, skipped = derivations_for(name, electrodes)
    missing = [e for e in TEN_TWENTY if e not in electrodes]
    needed = MIN_AVERAGE_ELECTRODES if name == "average" else 1
    if len(derivations) < needed:
        have = [e for e in TEN_TWENTY if e in electrodes]
        raise MontageError(
            f"montage {name!r} needs at least {needed} "
            + ("10-20 electrodes" if name in ("as_recorded", "average") else "pair of neighbouring 10-20 electrodes")
            + f"; this recording has {' '.join(have) or 'none'} (missing {' '.join(missing)})"
            + (f"; possible here: {', '.join(available_montages(electrodes))} (or 'auto')" if have else "")
        )
    row = {e: i for i, e in enumerate(electrodes)}
    if name == "average":
        scalp = data[[row[a] for a, _ in derivations]]
        derived = scalp - scalp.mean(axis=0, keepdims=True)
        channels = [f"{a}-AVG" for a, _ in derivations]
    elif name == "as_recorded":
        derived = data[[row[a] for a, _ in derivations]]
        channels = [a for a, _ in derivations]
    else:
        derived = data[[row[a] for a, _ in derivations]] - data[[row[b] for _, b in derivations]]
        channels = [f"{a}-{b}" for a, b in derivations]
    return MontageResult(
        name=name,
        channels=channels,
        derivations=list(derivations),
        data=derived,
        missing_electrodes=missing,
        skipped_derivations=skipped,
    )
