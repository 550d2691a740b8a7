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
