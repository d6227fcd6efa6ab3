import numpy as np
import pytest

from cerebragloss.signals import (
    TEN_TWENTY,
    MontageError,
    apply_montage,
    available_montages,
    canonical_montage,
)
from cerebragloss.signals.montage import LONGITUDINAL_BIPOLAR, TRANSVERSE_BIPOLAR


def _referential(electrodes):
    rng = np.random.default_rng(1)
    return rng.normal(size=(len(electrodes), 400))


def test_full_double_banana_is_the_18_pair_differences():
    data = _referential(TEN_TWENTY)
    result = apply_montage(data, list(TEN_TWENTY), "double_banana")
    assert result.name == "longitudinal_bipolar" and len(result.channels) == 18
    assert result.channels[:4] == ["Fp1-F7", "F7-T7", "T7-P7", "P7-O1"]
    row = {e: i for i, e in enumerate(TEN_TWENTY)}
    for k, (a, b) in enumerate(LONGITUDINAL_BIPOLAR):
        np.testing.assert_array_equal(result.data[k], data[row[a]] - data[row[b]])
    assert not result.missing_electrodes and not result.skipped_derivations


def test_transverse_and_average():
    data = _referential(TEN_TWENTY)
    transverse = apply_montage(data, list(TEN_TWENTY), "transverse_bipolar")
    assert len(transverse.channels) == len(TRANSVERSE_BIPOLAR) == 18
    average = apply_montage(data, list(TEN_TWENTY), "average")
    np.testing.assert_allclose(average.data.mean(axis=0), 0, atol=1e-12)
    assert average.channels[0] == "Fp1-AVG"


def test_five_electrodes_give_the_derivations_they_can_and_say_what_is_missing():
    electrodes = ["O1", "P3", "C3", "F3", "Fp1"]  # order as recorded does not matter
    result = apply_montage(_referential(electrodes), electrodes, "longitudinal_bipolar")
    assert result.channels == ["Fp1-F3", "F3-C3", "C3-P3", "P3-O1"]
    assert "Fp1-F7" in result.skipped_derivations and "Cz" in result.missing_electrodes
    assert "left out" in result.describe()
    assert available_montages(electrodes) == ["as_recorded", "average", "longitudinal_bipolar"]
    with pytest.raises(MontageError, match="transverse_bipolar.*has Fp1 F3 C3 P3 O1"):
        apply_montage(_referential(electrodes), electrodes, "transverse")


def test_one_electrode_still_renders_as_recorded_and_explains_the_rest():
    result = apply_montage(_referential(["Cz"]), ["Cz"], "as_recorded")
    assert result.channels == ["Cz"] and len(result.missing_electrodes) == 18
    assert available_montages(["Cz"]) == ["as_recorded"]
    with pytest.raises(MontageError, match="needs at least 3 10-20 electrodes"):
        apply_montage(_referential(["Cz"]), ["Cz"], "average")
    with pytest.raises(MontageError, match="missing Fp1"):
        apply_montage(_referential(["Cz"]), ["Cz"], "longitudinal_bipolar")


def test_ten_ten_only_electrodes_are_not_drawn_and_unknown_montage_names_fail():
    assert available_montages(["FC5", "AF3"]) == []
    with pytest.raises(MontageError, match="unknown montage 'laplacian'"):
        canonical_montage("laplacian")


# --- the montage a recording is drawn in by default -------------------------------------------

@pytest.mark.parametrize(
    "electrodes, chosen, because",
    [
        (list(TEN_TWENTY), "longitudinal_bipolar", "18 of 18 derivations, chains through 19 of 19"),
        ([e for e in TEN_TWENTY if e != "Cz"], "longitudinal_bipolar", "16 of 18 derivations, chains through 16 of 18"),
        (["Fp1", "F7", "T7", "P7", "O1"], "longitudinal_bipolar", "4 of 18 derivations"),
        (["F3", "C3", "Cz", "C4"], "average", "would reach only 2 of 4 10-20 electrodes; common average of 4"),
        (["Fp1", "Cz", "O2"], "average", "no neighbouring pair for a double banana among Fp1 Cz O2"),
        (["C3"], "as_recorded", "a common average needs 3 electrodes, so C3 as recorded"),
        (["C3", "C4", "FC5"], "as_recorded", "so C3 C4 as recorded"),  # 10-10 electrodes are not drawn
    ],
)
def test_auto_picks_double_banana_then_average_then_as_recorded_and_says_why(electrodes, chosen, because):
    from cerebragloss.signals import choose_montage

    choice = choose_montage(electrodes)
    assert choice.name == chosen and because in choice.reason, choice
    result = apply_montage(_referential(electrodes), electrodes, "auto")
    assert result.name == chosen and result.channels  # what auto picks can always be built


def test_a_montage_asked_by_name_is_kept_and_no_electrode_is_an_error():
    from cerebragloss.signals import choose_montage

    assert choose_montage(["C3"], "double_banana").describe() == "longitudinal_bipolar (as asked)"
    assert choose_montage(["C3"], "best").name == "as_recorded"
    with pytest.raises(MontageError, match="no 10-20 electrode .EEG channels: FC5 CP3"):
        choose_montage(["FC5", "CP3"])
    with pytest.raises(MontageError, match="choose one of auto, as_recorded"):
        choose_montage(["C3"], "banana")
    with pytest.raises(MontageError, match="unknown montage 'auto'"):  # only where a recording decides
        canonical_montage("auto")


def test_a_montage_the_electrodes_cannot_make_names_the_ones_they_can():
    with pytest.raises(MontageError, match=r"this recording has C3 .*; possible here: as_recorded \(or 'auto'\)"):
        apply_montage(_referential(["C3"]), ["C3"], "double_banana")
