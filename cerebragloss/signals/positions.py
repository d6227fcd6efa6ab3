"""Where the 10-20 electrodes sit on a template head, for everything that reasons about space
(neighbouring channels in the engine's cleaning, scalp fields in the simulator)."""

from __future__ import annotations

import numpy as np

from cerebragloss.signals.channels import TEN_TWENTY


def electrode_positions_mm(electrodes: list[str]) -> np.ndarray:
    """``[electrodes, 3]`` template-head positions in mm, in the order given (10-20 names only)."""
    import mne

    # MNE 1.13 renamed the template head's 10-20 montage; older releases only know the old name.
    known = mne.channels.get_builtin_montages()
    name = "colin27_1020" if "colin27_1020" in known else "standard_1020"
    positions = mne.channels.make_standard_montage(name).get_positions()["ch_pos"]
    return np.array([positions[name] for name in electrodes]) * 1000.0  # metres -> mm


def electrode_positions(electrodes: list[str]) -> dict[str, np.ndarray]:
    """Template-head positions (mm) of the 10-20 electrodes in ``electrodes``; others are left out."""
    known = [e for e in electrodes if e in TEN_TWENTY]
    return dict(zip(known, electrode_positions_mm(known), strict=True)) if known else {}
