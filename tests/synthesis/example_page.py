"""A hand-written SegmentAnnotation whose every fact is known, for verification tests.

An awake-looking double-banana page: 10.2 Hz alpha PDR, symmetric; a right temporal sharp wave
(F8-T8, T8-P8, phase reversal at T8) at 4.2 s; a vertex-maximal K-complex (Fz-Cz, Cz-Pz) at 6.0 s;
blinks in Fp1-F7/Fp2-F8 at 7.1-7.6 s; a spike on F3-C3 that cleaning dropped for lack of field,
which must never be stated.
"""

from __future__ import annotations

from cerebragloss.signals.montage import LONGITUDINAL_BIPOLAR

CHANNELS = [f"{a}-{b}" for a, b in LONGITUDINAL_BIPOLAR]


def example_annotation(detector_ran: bool = True) -> dict:
    background = {
        "channels": {c: {"amplitude_uv": 30.0, "dominant_hz": 10.2, "band": "alpha"} for c in CHANNELS},
        "posterior_dominant_rhythm": {"present": True, "frequency_hz": 10.2, "band": "alpha", "amplitude_uv": 35.0,
                                      "channel": "P8-O2", "prominence": 40.0},
        "symmetry": {"pairs": 8, "symmetric": True, "asymmetric_pairs": []},
        "summary": "posterior dominant rhythm 10.2 Hz (alpha), 35 uV; medium-voltage alpha background (median 30 uV); symmetric",
    }  # fmt: skip
    sharp = {"class": "sharp_wave", "channels": ["F8-T8", "T8-P8"], "start_s": 4.2, "end_s": 4.35, "confidence": 0.8,
             "source": "detector", "box": [590.0, 140.0, 612.0, 196.0]}  # fmt: skip
    k_complex = {"class": "k_complex", "channels": ["Fz-Cz", "Cz-Pz"], "start_s": 6.0, "end_s": 6.7, "confidence": 0.9,
                 "source": "detector", "box": [800.0, 500.0, 900.0, 560.0]}  # fmt: skip
    spike = {"class": "spike", "channels": ["F3-C3"], "start_s": 2.0, "end_s": 2.06, "confidence": 0.4, "source": "detector",
             "box": [300.0, 300.0, 306.0, 330.0]}  # fmt: skip
    annotation = {
        "schema": 1, "key": "example_r0_000000000", "recording": "example_r0", "subject": "example", "start_s": 0.0,
        "duration_s": 10.0, "sfreq": 200.0, "montage": "longitudinal_bipolar", "channels": CHANNELS, "missing": [],
        "filters": "LFF 0.5 Hz HFF 70 Hz notch off", "flags": [], "background": background,
        "artifacts": [{"type": "eog", "channels": ["Fp1-F7", "Fp2-F8"], "start_s": 7.1, "end_s": 7.6, "score": 3.0, "source": "engine"}],
        "events": [], "detector": {"ran": detector_ran}, "findings": {}, "page": "example_r0_000000000.png",
    }  # fmt: skip
    if detector_ran:
        annotation["events"] = [sharp, k_complex, spike]
        annotation["findings"] = {
            "events": [sharp | {"dipole": {"focus": "T8", "method": "phase reversal between F8-T8 and T8-P8", "polarity": "negative",
                                           "strength_uv": 80.0}}, k_complex],
            "sleep_events": [1], "epileptiform": [0],
            "decisions": [{"event": 0, "class": "sharp_wave", "decision": "kept", "reason": "on 2 channels"},
                          {"event": 1, "class": "k_complex", "decision": "kept", "reason": "on 2 channels"},
                          {"event": 2, "class": "spike", "decision": "dropped", "reason": "single channel F3-C3 with no field"}],
            "awake_background": False,
        }  # fmt: skip
    return annotation
