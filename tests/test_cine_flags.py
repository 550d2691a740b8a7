"""Silent wrong phenotypes become NaN-with-reason or flagged values (issue 18), with one choice of ED / ES."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_volumes import GEOM, beating_heart

from cardiomm.conventions import LV_BLOOD, LV_MYO, PHENOTYPES, RV_BLOOD
from cardiomm.quantify.cine import cine_phenotypes
from cardiomm.quantify.phases import cardiac_phases, ed_es_frames
from cardiomm.quantify.volumes import ES_DEPENDENT, ventricular_phenotypes, ventricular_phenotypes_flagged
from cardiomm.quantify.wall_thickness import wall_thickness


@pytest.fixture(scope="module")
def heart() -> np.ndarray:
    return beating_heart()  # LV largest at frame 0, smallest at frame 10


def _without(labels: np.ndarray, frame: int, label: int, to: int = 0) -> np.ndarray:
    out = labels.copy()
    out[frame][out[frame] == label] = to
    return out


def test_clean_cine_has_no_flags(heart):
    values, notes = cine_phenotypes(heart, GEOM)
    assert set(values) == set(PHENOTYPES)
    assert all(why == "" and np.isfinite(v) for v, why in values.values()), values
    assert notes[0] == "ED frame 0, ES frame 10"


def test_rv_absent_at_es_is_nan_with_reason_not_rvef_100(heart):
    base = ventricular_phenotypes(heart, GEOM)
    vals, flags = ventricular_phenotypes_flagged(_without(heart, 10, RV_BLOOD), GEOM)
    for k in ("RVESV", "RVSV", "RVEF"):
        assert math.isnan(vals[k]) and "RV blood pool absent at the ES frame 10" in flags[k], k
    assert vals["RVEDV"] == pytest.approx(base["RVEDV"]) and flags["RVEDV"] == ""
    assert all(flags[k] == "" for k in ("LVEDV", "LVESV", "LVEF", "LVM"))


def test_rv_absent_at_ed_is_nan_with_reason_not_rvsv_negative(heart):
    vals, flags = ventricular_phenotypes_flagged(_without(heart, 0, RV_BLOOD), GEOM)
    for k in ("RVEDV", "RVESV", "RVSV", "RVEF"):
        assert math.isnan(vals[k]) and "RV blood pool absent at the ED frame 0" in flags[k], k
    no_rv = np.where(heart == RV_BLOOD, 0, heart)
    vals, flags = ventricular_phenotypes_flagged(no_rv, GEOM)
    assert all(math.isnan(vals[k]) and "no RV blood pool" in flags[k] for k in ("RVEDV", "RVSV", "RVEF"))


def test_lv_lost_in_one_frame_is_not_read_as_es(heart):
    lost = _without(heart, 3, LV_BLOOD, LV_MYO)  # the segmenter missed the cavity in frame 3
    base = ventricular_phenotypes(heart, GEOM)
    vals, flags = ventricular_phenotypes_flagged(lost, GEOM)
    assert ed_es_frames(cardiac_phases(lost, GEOM).lv_ml)[1] == 10
    assert vals["LVESV"] == pytest.approx(base["LVESV"]) and vals["LVEF"] < 80  # not LVESV 0, LVEF 100%
    for k in ES_DEPENDENT:
        assert "LV blood pool lost in frame(s) [3]" in flags[k], k
    assert flags["LVEDV"] == "" and flags["LVM"] == ""


def test_cine_not_starting_at_ed_is_flagged_and_max_recovers_it(heart):
    shifted = np.roll(heart, 5, axis=0)  # ED now at frame 5
    values, notes = cine_phenotypes(shifted, GEOM, ed="first")
    assert all("may not start at end-diastole" in why for _, why in values.values())
    good, _ = cine_phenotypes(shifted, GEOM, ed="max")
    ref, _ = cine_phenotypes(heart, GEOM)
    assert good["LVEDV"][0] == pytest.approx(ref["LVEDV"][0]) and good["LVEDV"][1] == ""
    assert values["LVEDV"][0] < 0.9 * ref["LVEDV"][0]  # the wrong value is still reported, flagged


def test_wall_thickness_follows_the_configured_ed_frame(heart):
    shifted = np.roll(heart, 5, axis=0)
    values, _ = cine_phenotypes(shifted, GEOM, ed="max")
    assert cardiac_phases(shifted, GEOM, "max").ed_frame == 5
    assert values["WT"][0] == pytest.approx(wall_thickness(heart[0], GEOM)[0])
    assert values["WT"][0] != pytest.approx(wall_thickness(shifted[0], GEOM)[0])


def test_bad_segmentation_gives_nan_and_reasons_not_an_exception(heart):
    values, _ = cine_phenotypes(np.zeros_like(heart), GEOM)
    assert all(math.isnan(v) and why for v, why in values.values())
    values, _ = cine_phenotypes(_without(heart, 0, LV_BLOOD), GEOM)  # no LV at ED
    assert all(math.isnan(v) and "no LV blood pool" in why for v, why in values.values())
