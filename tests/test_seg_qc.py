"""Segmentation QC (UK Biobank style) and per-class Dice / HD95 metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cardiomm.conventions import LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.io.nifti import Geometry
from cardiomm.segmentation.metrics import dice_per_class, hd95_mm, segmentation_metrics
from cardiomm.segmentation.qc import QCThresholds, enclosure_fraction, qc_case

GEOM = Geometry(dx=1.5, dy=1.5, thickness=8.0, gap=2.0, dt=0.04)


def heart_slice(n: int = 64, r_lv: float = 10.0, wall: float = 4.0, r_rv: float = 11.0, rv: bool = True) -> np.ndarray:
    """A toy short-axis label slice: LV blood disc, myocardial ring, RV disc beside it."""
    yy, xx = np.mgrid[:n, :n]
    cy, cx = n / 2, n / 2 + 6
    lab = np.zeros((n, n), np.uint8)
    if rv:
        lab[np.hypot(yy - cy, xx - (cx - r_lv - wall - 0.5 * r_rv)) <= r_rv] = RV_BLOOD
    lab[np.hypot(yy - cy, xx - cx) <= r_lv + wall] = LV_MYO
    lab[np.hypot(yy - cy, xx - cx) <= r_lv] = LV_BLOOD
    return lab


def good_cine(nt: int = 3) -> np.ndarray:
    """(nt, 6, 64, 64): base (slice 0) to apex; frame 1 is ED (largest LV)."""
    radii = [10, 10, 9, 8, 6, 4]
    frames = []
    for t in range(nt):
        scale = 1.0 if t == 1 else 0.8
        frames.append([heart_slice(r_lv=r * scale, r_rv=11 * scale, rv=z < 5) for z, r in enumerate(radii)])
    return np.array(frames, dtype=np.uint8)


# ------------------------------------------------------------------------------------------------ QC


def test_good_cine_and_mapping_pass() -> None:
    assert qc_case(good_cine(), GEOM, "cine") == (True, "")
    assert qc_case(good_cine(1)[:, :4], GEOM, "mapping") == (True, "")


def test_empty_segmentation_fails() -> None:
    ok, reason = qc_case(np.zeros((3, 6, 64, 64), np.uint8), GEOM, "cine")
    assert not ok and "empty" in reason


def test_gap_in_slices_fails() -> None:
    seg = good_cine()
    seg[1, 3][seg[1, 3] != RV_BLOOD] = 0  # ED frame: LV and myocardium vanish on slice 3
    ok, reason = qc_case(seg, GEOM, "cine")
    assert not ok
    assert "gap" in reason and "[3]" in reason
    assert qc_case(good_cine(), GEOM, "cine")[0]  # the same case without the gap passes


def test_rv_missing_on_mid_slice_fails() -> None:
    seg = good_cine()
    seg[1, :, :, :][seg[1] == RV_BLOOD] = 0
    ok, reason = qc_case(seg, GEOM, "cine")
    assert not ok and "RV absent on the mid-ventricular slice" in reason


def test_open_myocardium_fails() -> None:
    seg = good_cine()
    for z in range(6):
        sl = seg[1, z]
        sl[:, 36:][sl[:, 36:] == LV_MYO] = 0  # cut away the lateral half of the ring
    assert enclosure_fraction(seg[1, 2]) < 0.75
    ok, reason = qc_case(seg, GEOM, "cine")
    assert not ok and "surrounds only" in reason


def test_lv_lost_in_one_frame_fails() -> None:
    seg = good_cine()
    seg[2, 2][seg[2, 2] == LV_BLOOD] = 0
    ok, reason = qc_case(seg, GEOM, "cine")
    assert not ok and "frame(s) [2]" in reason


def test_area_thresholds_scale_with_pixel_size() -> None:
    seg = np.array([[heart_slice(r_lv=5, wall=3, r_rv=6) for _ in range(4)]], dtype=np.uint8)  # LV ~ 80 px
    coarse = Geometry(2.0, 2.0, 8.0, 0.0)  # 80 px = 320 mm^2 > 100 mm^2
    fine = Geometry(0.5, 0.5, 8.0, 0.0)  # 80 px = 20 mm^2 < 100 mm^2
    assert qc_case(seg, coarse, "mapping")[0]
    ok, reason = qc_case(seg, fine, "mapping")
    assert not ok and "LV blood pool" in reason
    assert qc_case(seg, fine, "mapping", QCThresholds(lv_blood_mm2=10, lv_myo_mm2=10, rv_blood_mm2=5,
                                                      presence_mm2=5))[0]


def test_qc_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="nt, nz, ny, nx"):
        qc_case(np.zeros((6, 64, 64), np.uint8), GEOM, "cine")
    with pytest.raises(ValueError, match="outside"):
        qc_case(np.full((1, 2, 8, 8), 5, np.uint8), GEOM, "cine")
    with pytest.raises(ValueError, match="kind"):
        qc_case(good_cine(), GEOM, "lax")


# ------------------------------------------------------------------------------------------- metrics


def disc(n: int, cy: float, cx: float, r: float, value: int) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    return np.where(np.hypot(yy - cy, xx - cx) <= r, value, 0).astype(np.uint8)


def test_dice_identical_and_disjoint() -> None:
    a = good_cine()
    d = dice_per_class(a, a)
    assert d == {"lv_blood": 1.0, "lv_myo": 1.0, "rv_blood": 1.0}
    p = disc(64, 16, 16, 6, LV_BLOOD)[None, None]
    t = disc(64, 48, 48, 6, LV_BLOOD)[None, None]
    d = dice_per_class(p, t)
    assert d["lv_blood"] == 0.0
    assert math.isnan(d["lv_myo"]) and math.isnan(d["rv_blood"])  # absent from both maps


def test_dice_partial_overlap_value() -> None:
    t = np.zeros((1, 1, 10, 10), np.uint8)
    p = t.copy()
    t[..., :4, :] = LV_BLOOD  # 40 px
    p[..., 2:4, :] = LV_BLOOD  # 20 px, all inside
    assert dice_per_class(p, t)["lv_blood"] == pytest.approx(2 * 20 / 60)
    p[..., 8:, :] = RV_BLOOD  # RV only in the prediction
    assert dice_per_class(p, t)["rv_blood"] == 0.0


@pytest.mark.parametrize("shift", [2, 4])
def test_hd95_of_shifted_disc_equals_shift_in_mm(shift: int) -> None:
    truth = np.stack([disc(64, 32, 30, 12, RV_BLOOD)] * 3)[None]  # (1, 3, 64, 64)
    pred = np.stack([disc(64, 32, 30 + shift, 12, RV_BLOOD)] * 3)[None]
    hd = hd95_mm(pred, truth, GEOM)
    assert hd["rv_blood"] == pytest.approx(shift * GEOM.dx, abs=1e-4)
    assert math.isnan(hd["lv_blood"])
    assert hd95_mm(truth, truth, GEOM)["rv_blood"] == 0.0


def test_hd95_uses_dy_dx_in_axis_order() -> None:
    truth = disc(64, 32, 30, 12, LV_BLOOD)[None, None]
    pred = disc(64, 32, 33, 12, LV_BLOOD)[None, None]  # shifted 3 px along x
    wide = hd95_mm(pred, truth, Geometry(dx=2.0, dy=1.0, thickness=8, gap=0))["lv_blood"]
    tall = hd95_mm(pred, truth, Geometry(dx=1.0, dy=2.0, thickness=8, gap=0))["lv_blood"]
    assert wide > 5.0  # ~ 3 px x 2 mm
    assert tall <= 3.0 + 1e-4  # ~ 3 px x 1 mm


def test_hd95_missing_slice_counts_the_diagonal() -> None:
    truth = np.stack([disc(64, 32, 30, 12, LV_BLOOD)] * 2)[None]
    pred = truth.copy()
    pred[0, 1] = 0  # LV missed on slice 1
    diag = math.hypot(64 * GEOM.dy, 64 * GEOM.dx)
    assert hd95_mm(pred, truth, GEOM)["lv_blood"] == pytest.approx((0.0 + diag) / 2)
    m = segmentation_metrics(pred, truth, GEOM)
    assert set(m) == {f"{k}_{c}" for k in ("dice", "hd95_mm") for c in ("lv_blood", "lv_myo", "rv_blood")}


def test_metrics_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        dice_per_class(np.zeros((1, 1, 8, 8), np.uint8), np.zeros((1, 1, 8, 9), np.uint8))


# ---------------------------------------------------------------------------------------- foreign-model failures


def cycle_cine(nt: int = 8, radii=(10, 10, 9, 8, 6, 4), cycles: int = 1, empty_base: int = 0,
               empty_apex: int = 0) -> np.ndarray:
    """(nt, nz, 64, 64): one (or ``cycles``) cosine cardiac cycles, ED at frame 0, optional empty end slices."""
    frames = []
    for t in range(nt):
        s = 1.0 - 0.3 * (1 - math.cos(2 * math.pi * cycles * t / nt)) / 2
        sl = [heart_slice(r_lv=r * s, r_rv=11 * s, rv=z < len(radii) - 1) for z, r in enumerate(radii)]
        empty = [np.zeros((64, 64), np.uint8)]
        frames.append(empty * empty_base + sl + empty * empty_apex)
    return np.array(frames, dtype=np.uint8)


def test_a_good_cycle_with_a_tapering_apex_passes() -> None:
    assert qc_case(cycle_cine(), GEOM, "cine") == (True, "")
    assert qc_case(cycle_cine(empty_apex=2), GEOM, "cine") == (True, "")  # empty slices past a tapered apex


def test_swapped_lv_rv_labels_fail() -> None:
    seg = cycle_cine()
    swapped = np.array([0, RV_BLOOD, LV_MYO, LV_BLOOD], np.uint8)[seg]
    ok, reason = qc_case(swapped, GEOM, "cine")
    assert not ok and "swapped LV<->RV" in reason
    ok, reason = qc_case(swapped[:1], GEOM, "mapping")
    assert not ok and "swapped LV<->RV" in reason


def test_empty_apex_fails() -> None:
    seg = cycle_cine(empty_apex=1)
    seg[:, 4:] = 0  # the model gave up on the two apical slices
    ok, reason = qc_case(seg, GEOM, "cine")
    assert not ok and "empty apex" in reason and "slice 4 next to slice 3" in reason
    assert "empty base" not in reason


def test_empty_base_fails() -> None:
    seg = cycle_cine(empty_base=1)
    ok, reason = qc_case(seg, GEOM, "cine")
    assert not ok and "empty base" in reason and "slice 0 next to slice 1" in reason
    assert "empty apex" not in reason
    assert qc_case(seg, GEOM, "cine", QCThresholds(edge_fraction=1.01))[0]  # the threshold is what decides


def test_myocardium_open_in_a_non_ed_frame_fails() -> None:
    seg = cycle_cine()
    for z in range(seg.shape[1]):
        sl = seg[3, z]
        sl[:, 36:][sl[:, 36:] == LV_MYO] = 0  # frame 3: the lateral half of the ring is missing
    ok, reason = qc_case(seg, GEOM, "cine")
    assert not ok and "does not close" in reason and "frame(s) [3]" in reason
    assert "ED" not in reason  # ED itself is fine: the failure is found in the other frame


def test_volume_curve_not_one_cycle_fails() -> None:
    ok, reason = qc_case(cycle_cine(cycles=2), GEOM, "cine")
    assert not ok and "LV blood pool volume curve is not one cardiac cycle: its harmonic 2" in reason
    assert "RV blood pool volume curve" in reason
    flat = np.repeat(cycle_cine()[:1], 8, axis=0)
    ok, reason = qc_case(flat, GEOM, "cine")
    assert not ok and "LV blood pool volume changes by only 0.0%" in reason
    assert qc_case(flat[:4], GEOM, "cine")[0]  # too few frames to judge a cycle: not checked


@pytest.mark.parametrize("label,name", [(RV_BLOOD, "RV blood pool"), (LV_MYO, "LV myocardium"),
                                        (LV_BLOOD, "LV blood pool")])
def test_structure_lost_in_one_frame_fails(label: int, name: str) -> None:
    seg = cycle_cine()
    seg[5][seg[5] == label] = 0
    ok, reason = qc_case(seg, GEOM, "cine")
    assert not ok and f"no {name} on the mid-ventricular slice" in reason and "frame(s) [5]" in reason


def test_qc_checks_the_ed_frame_that_quantification_uses() -> None:
    # good_cine: frame 1 has the largest LV, frame 0 a smaller one. Open the ring in frame 0 only.
    seg = good_cine()
    for z in range(seg.shape[1]):
        sl = seg[0, z]
        sl[:, 36:][sl[:, 36:] == LV_MYO] = 0
    ok_first, why_first = qc_case(seg, GEOM, "cine", ed="first")  # ED = frame 0, as `quantify: {ed: first}`
    ok_max, why_max = qc_case(seg, GEOM, "cine", ed="max")  # ED = frame 1, the largest LV
    assert not ok_first and why_first.startswith("ED frame 0")
    assert not ok_max and "ED frame 0" not in why_max and "frame(s) [0]" in why_max
