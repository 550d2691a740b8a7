"""Label conventions: ours <-> ACDC <-> CMRxRecon 2023 round trips and validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cardiomm.conventions import BACKGROUND, LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.segmentation.labels import (
    LabelError,
    apply_mapping,
    convert_labels,
    from_acdc,
    from_cmrxrecon2023,
    mapping_from_convention,
    mapping_from_names,
    to_acdc,
    to_cmrxrecon2023,
    validate_labels,
)

label_maps = arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)),
                    elements=st.integers(0, 3))


def test_acdc_values_swap_lv_and_rv() -> None:
    ours = np.array([BACKGROUND, LV_BLOOD, LV_MYO, RV_BLOOD], dtype=np.uint8)
    # ACDC: 1 RV cavity, 2 myocardium, 3 LV cavity.
    np.testing.assert_array_equal(to_acdc(ours), [0, 3, 2, 1])
    np.testing.assert_array_equal(from_acdc(np.array([0, 1, 2, 3])), [BACKGROUND, RV_BLOOD, LV_MYO, LV_BLOOD])


def test_cmrxrecon2023_is_our_convention() -> None:
    ours = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    np.testing.assert_array_equal(to_cmrxrecon2023(ours), ours)
    np.testing.assert_array_equal(from_cmrxrecon2023(ours.astype(np.int16)), ours)


@settings(max_examples=40, deadline=None)
@given(label_maps)
def test_round_trips(a: np.ndarray) -> None:
    before = a.copy()
    for fwd, back in ((to_acdc, from_acdc), (to_cmrxrecon2023, from_cmrxrecon2023)):
        out = back(fwd(a))
        assert out.dtype == np.uint8 and out.shape == a.shape
        np.testing.assert_array_equal(out, a)
        np.testing.assert_array_equal(fwd(back(a)), a)
    np.testing.assert_array_equal(a, before)  # inputs are never modified
    np.testing.assert_array_equal(convert_labels(a, "acdc", "cmrxrecon2023"), from_acdc(a))


@settings(max_examples=20, deadline=None)
@given(label_maps)
def test_acdc_preserves_class_counts(a: np.ndarray) -> None:
    b = to_acdc(a)
    assert (b == 3).sum() == (a == LV_BLOOD).sum()
    assert (b == 1).sum() == (a == RV_BLOOD).sum()
    assert (b == 2).sum() == (a == LV_MYO).sum()


@pytest.mark.parametrize("bad", [np.array([0, 4]), np.array([255], np.uint8), np.array([-1, 0]),
                                 np.array([0.0, np.nan]), np.array([1.5]), np.array([1 + 1j])])
def test_validate_rejects_bad_values(bad: np.ndarray) -> None:
    with pytest.raises(LabelError, match="seg.nii.gz"):
        validate_labels(bad, "seg.nii.gz")
    with pytest.raises(LabelError):
        from_acdc(bad)


def test_validate_accepts_integer_valued_floats_and_bools() -> None:
    out = validate_labels(np.array([[0.0, 3.0], [2.0, 1.0]], dtype=np.float32), "x")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 3], [2, 1]])
    assert validate_labels(np.array([True, False]), "x").tolist() == [1, 0]


def test_unknown_convention() -> None:
    with pytest.raises(KeyError, match="sunnybrook"):
        convert_labels(np.zeros(3, np.uint8), "sunnybrook", "ours")


# ------------------------------------------------------------------------------------------------ model declarations


def test_declared_names_give_one_mapping_per_model() -> None:
    acdc_nnunet = {0: "background", 1: "RV", 2: "MLV", 3: "LVC"}  # nnU-Net's ACDC dataset.json
    bundle = {0: "background", 1: "lv_pool", 2: "myocardium", 3: "rv_pool"}  # ventricular_short_axis_3label
    lut = mapping_from_names(acdc_nnunet, "dataset.json")
    np.testing.assert_array_equal(lut, mapping_from_convention("acdc"))
    acdc = np.array([0, 1, 2, 3, 3, 1], np.uint8)
    np.testing.assert_array_equal(apply_mapping(acdc, lut, "x"), from_acdc(acdc))
    np.testing.assert_array_equal(mapping_from_names(bundle, "metadata.json"), [BACKGROUND, LV_BLOOD, LV_MYO,
                                                                                RV_BLOOD])
    np.testing.assert_array_equal(mapping_from_convention("mnms"), [0, LV_BLOOD, LV_MYO, RV_BLOOD])
    # a model with extra values (e.g. 4 = right atrium) must not declare them: unknown names are refused
    with pytest.raises(LabelError, match="dataset.json.*'RA'"):
        mapping_from_names({**acdc_nnunet, 4: "RA"}, "dataset.json")
    with pytest.raises(LabelError, match="lack \\['rv_blood'\\]"):
        mapping_from_names({0: "background", 1: "LV", 2: "Myo"}, "metadata.json")
    with pytest.raises(LabelError, match="declared twice"):
        mapping_from_names({0: "background", 1: "LV", 2: "lv_pool", 3: "Myo"}, "metadata.json")
    with pytest.raises(LabelError, match="model output holds label values"):
        apply_mapping(np.array([0, 4]), lut, "pred")


@given(label_maps)
@settings(max_examples=30, deadline=None)
def test_mnms_and_cmrxrecon2023_are_ours(lab: np.ndarray) -> None:
    np.testing.assert_array_equal(convert_labels(lab, "mnms", "ours"), lab)
    np.testing.assert_array_equal(convert_labels(lab, "monai_ventricular_3label", "ours"), lab)
    np.testing.assert_array_equal(convert_labels(convert_labels(lab, "ours", "acdc"), "acdc", "mnms"), lab)
