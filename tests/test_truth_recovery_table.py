"""Truth-recovery tables (cardiomm.compare.truth_recovery): pairing, goals, Dice at ED/ES, hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiomm.compare.truth_recovery import GOALS, differences, recovery_summary
from cardiomm.conventions import LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.segmentation.metrics import phase_dice


def _rows(method: str, values: dict[str, list[float]], **extra) -> list[dict]:
    return [{"subject": f"S{i}", "method": method, "indicator": k, "value": v, **extra}
            for k, vs in values.items() for i, v in enumerate(vs)]


def test_differences_pair_reference_and_truth_on_the_consensus_roi_own_labels():
    rows = (_rows("truth", {"LVEF": [50.0, 60.0]}) + _rows("reference", {"LVEF": [49.0, 62.0]})
            + _rows("truth", {"T1": [1000.0, 1100.0]}, roi="consensus", labels="own")
            + _rows("reference", {"T1": [1004.0, 1090.0]}, roi="consensus", labels="own")
            + _rows("reference", {"T1": [0.0, 0.0]}, roi="global", labels="own")
            + _rows("reference", {"T1": [0.0, 0.0]}, roi="consensus", labels="reference")
            + _rows("sense", {"LVEF": [10.0, 10.0]}))
    d = differences(pd.DataFrame(rows)).set_index(["indicator", "subject"])["difference"]
    assert d.to_dict() == {("LVEF", "S0"): -1.0, ("LVEF", "S1"): 2.0, ("T1", "S0"): 4.0, ("T1", "S1"): -10.0}


def test_a_subject_without_a_finite_value_is_dropped_not_zero():
    rows = _rows("truth", {"LVM": [100.0, 110.0]}) + _rows("reference", {"LVM": [101.0, float("nan")]})
    d = differences(pd.DataFrame(rows))
    assert list(d["subject"]) == ["S0"] and d["difference"].tolist() == [1.0]


def test_summary_bias_loa_and_goals():
    # LVEF: differences -1, +1, 0 -> bias 0, SD 1, LoA +-1.96: met (|bias| <= 1, LoA within +-3)
    # LVESV: +4, +4, +4 -> bias 4 > 3: not met; WT: +0.1, +0.2, +0.3 -> 0.2: met
    diff = pd.DataFrame({"indicator": ["LVEF"] * 3 + ["LVESV"] * 3 + ["WT"] * 3,
                         "difference": [-1.0, 1.0, 0.0, 4.0, 4.0, 4.0, 0.1, 0.2, 0.3]})
    s = recovery_summary(diff).set_index("indicator")
    assert s.loc["LVEF", "mean_bias"] == pytest.approx(0.0)
    assert s.loc["LVEF", "sd"] == pytest.approx(1.0)
    assert s.loc["LVEF", "loa_hi"] == pytest.approx(1.96)
    assert s.loc["LVEF", "met"] and not s.loc["LVESV", "met"] and s.loc["WT", "met"]
    # a small LVEF bias with a wide spread fails on the limits of agreement alone
    wide = pd.DataFrame({"indicator": ["LVEF"] * 3, "difference": [-2.0, 2.0, 0.0]})
    row = recovery_summary(wide).iloc[0]
    assert row["mean_bias"] == pytest.approx(0.0) and row["loa_hi"] == pytest.approx(3.92) and not row["met"]
    assert set(GOALS) >= {"LVEF", "LVESV", "LVM", "WT", "T1", "T2", "T1rho"}


def test_phase_dice_at_the_true_ed_and_es_frames():
    truth = np.zeros((3, 1, 8, 8), np.uint8)
    truth[0, 0, 1:5, 1:5] = LV_BLOOD  # 16 px: ED
    truth[1, 0, 2:4, 2:4] = LV_BLOOD  # 4 px: ES
    truth[2, 0, 1:4, 1:4] = LV_BLOOD
    truth[:, 0, 6, :] = LV_MYO
    truth[:, 0, 7, :4] = RV_BLOOD
    pred = truth.copy()
    pred[1, 0, 2, 4] = LV_BLOOD  # ES: one extra blood pixel -> 2*4/(5+4)
    pred[0, 0, 6, :4] = 0  # ED: half the myocardium lost -> 2*4/(4+8)
    d = phase_dice(pred, truth)
    assert d["ES lv_blood"] == pytest.approx(8 / 9)
    assert d["ED lv_blood"] == 1.0 and d["ED lv_myo"] == pytest.approx(8 / 12)
    assert d["ES rv_blood"] == 1.0
    with pytest.raises(ValueError, match="shape"):
        phase_dice(pred[:2], truth)
