"""Myocardial ROIs of a mapping series (consensus, global, AHA) and the measurement rows built on them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from cardiomm.conventions import LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.io.nifti import Geometry
from cardiomm.quantify.aha import aha_segments
from cardiomm.quantify.measure import Series, headline, mapping_rows, truth_rows
from cardiomm.quantify.roi import (
    CONSENSUS,
    MIN_BORDER_PX,
    ROIS,
    global_roi,
    mid_ventricular_slice,
    midwall,
    roi_masks,
    summarise,
)

GEOM = Geometry(2.25, 2.25, 8.0, 2.0)


def ring(r_in: float = 22.0, r_out: float = 32.0, n: int = 64, rv: bool = True) -> np.ndarray:
    """One short-axis slice (mm): LV blood disc, myocardial ring, RV crescent on the image left (120-240 deg)."""
    yy, xx = np.mgrid[0:n, 0:n]
    y, x = (yy - n / 2 + 0.3) * GEOM.dy, (xx - n / 2 - 0.2) * GEOM.dx
    r, theta = np.hypot(x, y), np.mod(np.arctan2(-y, x), 2 * np.pi)
    sl = np.zeros((n, n), dtype=np.uint8)
    sl[r <= r_in] = LV_BLOOD
    sl[(r > r_in) & (r <= r_out)] = LV_MYO
    if rv:
        sl[(r > r_out) & (r <= r_out + 15.0) & (theta >= np.deg2rad(120)) & (theta <= np.deg2rad(240))] = RV_BLOOD
    return sl


def stack(nz: int = 3, **kw: float) -> np.ndarray:
    return np.stack([ring(**kw)] * nz)


def test_global_roi_is_the_one_pixel_erosion_per_slice() -> None:
    labels = stack()
    expected = np.stack([ndimage.binary_erosion(s == LV_MYO) for s in labels])
    assert np.array_equal(global_roi(labels), expected) and np.array_equal(global_roi(labels[None]), expected)


def test_consensus_roi_is_septal_mid_wall_of_the_mid_slice() -> None:
    labels = stack()
    masks, reasons = roi_masks(labels, GEOM)
    assert list(masks) == list(ROIS) and CONSENSUS not in reasons
    roi = masks[CONSENSUS]
    assert mid_ventricular_slice(labels) == 1
    assert not roi[0].any() and not roi[2].any() and roi[1].sum() >= 10  # the mid slice only
    seg = aha_segments(labels, GEOM)
    assert set(np.unique(seg[roi])) == {8, 9}  # the middle of the septum: where segments 8 and 9 meet
    assert np.array_equal(masks["AHA8"], global_roi(labels) & (seg == 8))
    sl = labels[1]
    d_endo = ndimage.distance_transform_edt(sl != LV_BLOOD)
    d_epi = ndimage.distance_transform_edt((sl == LV_MYO) | (sl == LV_BLOOD))
    assert (d_endo[roi[1]] >= MIN_BORDER_PX).all() and (d_epi[roi[1]] >= MIN_BORDER_PX).all()
    t = d_endo[roi[1]] / (d_endo[roi[1]] + d_epi[roi[1]])
    assert t.min() > 1 / 3 and t.max() < 2 / 3  # strictly the middle third of the wall
    # the septal mid-wall faces the RV: every ROI pixel lies on the RV side of the LV centre
    cols = np.nonzero(roi[1])[1]
    assert cols.max() < sl.shape[1] / 2


def test_a_shifted_segmentation_keeps_the_consensus_roi_inside_the_true_wall() -> None:
    """A segmenter one pixel off at either border: its consensus ROI still lies inside the true myocardium
    (the goal of benchmarks/results/consensus_roi.md), while its global ROI does not."""
    truth = stack(r_in=22.0, r_out=33.0)  # a 4.9-pixel wall
    # thicker by ~1 px at both borders, thinner at the endocardium, shifted by ~1 px into the cavity
    for r_in, r_out in ((19.75, 35.25), (23.5, 33.0), (19.75, 30.75)):
        own = stack(r_in=r_in, r_out=r_out)
        roi = roi_masks(own, GEOM)[0][CONSENSUS]
        assert roi.sum() >= 10 and (truth[roi] == LV_MYO).all(), (r_in, r_out)
    wide = stack(r_in=17.5, r_out=37.5)  # 2 px too wide at both borders: the eroded wall reaches out of it
    assert (truth[global_roi(wide)] == LV_MYO).mean() < 0.8
    assert (truth[roi_masks(wide, GEOM)[0][CONSENSUS]] == LV_MYO).mean() > 0.95


def test_thin_wall_and_missing_lv_give_reasons() -> None:
    thin = stack(r_in=22.0, r_out=25.0)  # ~1.3 px: nothing is two pixels from both borders
    masks, reasons = roi_masks(thin, GEOM)
    assert not masks[CONSENSUS].any() and "septal mid-wall pixels" in reasons[CONSENSUS]
    empty = np.zeros((3, 64, 64), dtype=np.uint8)
    masks, reasons = roi_masks(empty, GEOM)
    assert not any(m.any() for m in masks.values())
    assert "no LV myocardium label" in reasons[CONSENSUS] and "no LV myocardium label" in reasons["global"]
    assert "AHA segment 7" in reasons["AHA7"]
    masks, reasons = roi_masks(stack(nz=1), GEOM)  # one slice: basal only, no mid-ventricular slice
    assert not masks[CONSENSUS].any() and "mid-ventricular" in reasons[CONSENSUS] and masks["AHA2"].any()
    masks, reasons = roi_masks(np.stack([ring(rv=False)] * 3), GEOM)  # no RV: no septum to find
    assert not masks[CONSENSUS].any() and "septum cannot be located" in reasons[CONSENSUS]
    assert not midwall(np.full((8, 8), LV_MYO, np.uint8), GEOM).any()  # no blood pool: no mid-wall


def test_summarise_is_the_median_of_valid_pixels() -> None:
    labels = stack(nz=1)
    roi = global_roi(labels)
    values = np.where(roi, 1200.0, np.nan)
    tail = np.argwhere(roi[0])[::10]
    values[0][tuple(tail.T)] = 1900.0  # 10% of the ROI at blood T1: the median stays, the mean follows
    valid = np.isfinite(values)
    bad = np.argwhere(roi[0])[1:6]
    valid[0][tuple(bad.T)] = False
    values[0][tuple(bad.T)] = 9999.0  # invalid: counted, never summarised
    s = summarise(values, valid, roi)
    assert s["value"] == pytest.approx(1200.0) and s["mean"] > 1250.0
    assert s["n_pixels"] == roi.sum() and s["n_valid"] == roi.sum() - 5
    assert s["valid_fraction"] == pytest.approx(s["n_valid"] / s["n_pixels"])
    none = summarise(values, np.zeros_like(valid), roi)
    assert math.isnan(none["value"]) and none["n_valid"] == 0
    with pytest.raises(ValueError, match="one shape"):
        summarise(values, valid[..., :3], roi)


def _series(labels: np.ndarray, t2: np.ndarray, **kw) -> Series:
    tprep = np.array([0.0, 35.0, 55.0])
    body = labels > 0
    images = np.where(body[None], 100.0 * np.exp(-tprep[:, None, None, None] / t2[None]), 0.0)
    return Series("t2map", "full", images, labels[None], GEOM, (True, ""), biomarker="T2",
                  times=np.tile(tprep, (labels.shape[0], 1)), timing_source="test", **kw)


def test_truth_and_measurement_share_the_roi_and_the_statistic() -> None:
    """A septal lesion: the consensus ROI's truth and measurement both read it, the global ROI's neither."""
    labels = stack()
    t2 = np.full(labels.shape, 45.0)
    seg = aha_segments(labels, GEOM)
    t2[(seg == 8) | (seg == 9)] = 60.0  # oedema in the mid septum
    truth = pd.DataFrame(truth_rows("S1", "test", "T2", t2[None], labels[None], GEOM)).set_index("roi")
    assert list(truth.index) == list(ROIS) and (truth["labels"] == "own").all()
    assert truth.loc[CONSENSUS, "value"] == 60.0 and truth.loc["global", "value"] == 45.0
    assert truth.loc["AHA8", "value"] == 60.0 and truth.loc["AHA1", "value"] == 45.0
    rows, vmap = mapping_rows(_series(labels, t2), "S1", "test", "reference", noise_floor="none")
    meas = pd.DataFrame(rows).set_index("roi")
    assert vmap.shape == (1, *labels.shape) and vmap.dtype == np.float32
    assert meas.loc[CONSENSUS, "value"] == pytest.approx(60.0, abs=0.01)
    assert meas.loc["global", "value"] == pytest.approx(45.0, abs=0.01)
    assert (meas["valid_fraction"].dropna() == 1.0).all() and (meas["labels"] == "own").all()


def test_method_rows_come_twice_own_and_reference_labels() -> None:
    """A method's map is summarised on its own labels (end to end) and on the reference's (reconstruction only);
    its noise and procedure are those of the series' fully sampled acquisition, whatever its own air holds."""
    labels = stack()
    t2 = np.full(labels.shape, 45.0)
    rng = np.random.default_rng(0)
    ref = _series(labels, t2).images
    noisy = np.sqrt((ref + rng.normal(0, 1.0, ref.shape)) ** 2 + rng.normal(0, 1.0, ref.shape) ** 2)
    wrong = stack(r_in=17.0, r_out=30.0)  # the method's segmenter: a thicker septum reaching into the blood
    s = Series("t2map", "Uniform8", ndimage.gaussian_filter(noisy, (0, 0, 1, 1)), wrong[None], GEOM,
               (False, "segmentation QC: test"), biomarker="T2", times=np.tile([0.0, 35.0, 55.0], (3, 1)),
               reference=noisy, reference_labels=labels[None], reference_qc=(True, ""))
    rows = pd.DataFrame(mapping_rows(s, "S1", "test", "sense")[0])
    assert set(rows["labels"]) == {"own", "reference"} and len(rows) == 2 * len(ROIS)
    own, on_ref = rows[rows["labels"] == "own"], rows[rows["labels"] == "reference"]
    assert not own["qc_pass"].any() and own["qc_reason"].str.contains("segmentation QC").all()
    assert on_ref.set_index("roi").loc[CONSENSUS, "qc_pass"]
    assert rows["procedure"].nunique() == 1 and "from the acquisition" in rows["procedure"].iloc[0]
    reference = Series("t2map", "full", noisy, labels[None], GEOM, (True, ""), biomarker="T2",
                       times=np.tile([0.0, 35.0, 55.0], (3, 1)), reference=noisy)
    ref_rows = pd.DataFrame(mapping_rows(reference, "S1", "test", "reference")[0])
    assert set(ref_rows["labels"]) == {"own"}
    assert set(ref_rows["noise_floor"]) == set(rows["noise_floor"])  # one P for the series, from the acquisition
    assert set(ref_rows["procedure"]) == set(rows["procedure"])
    with pytest.raises(ValueError, match="fully sampled series"):
        mapping_rows(Series("t2map", "Uniform8", noisy, labels[None], GEOM, (True, ""), biomarker="T2",
                            times=np.tile([0.0, 35.0, 55.0], (3, 1))), "S1", "test", "sense")


def test_headline_keeps_consensus_own_and_every_phenotype() -> None:
    df = pd.DataFrame({"indicator": ["T1", "T1", "T1", "LVEF", "LVEF"], "roi": ["consensus", "global", "consensus",
                                                                                 np.nan, ""],
                       "labels": ["own", "own", "reference", "own", np.nan]})
    assert headline(df).index.tolist() == [0, 3, 4]
    assert len(headline(df.drop(columns=["roi", "labels"]))) == 5  # an older table: every row


def test_a_series_without_timing_gives_one_flagged_row_and_an_empty_map() -> None:
    from cardiomm.quantify.measure import quantify_series

    labels = stack()
    s = Series("t1map", "Uniform8", np.ones((8, *labels.shape)), labels[None], GEOM, (True, ""), biomarker="T1",
               timing_error="timing file does not exist")
    rows, vmap, notes = quantify_series(s, "S1", "test", "sense")
    assert len(rows) == 1 and math.isnan(rows[0]["value"]) and not rows[0]["qc_pass"]
    assert rows[0]["qc_reason"].startswith("no timing") and not vmap.any() and "not fitted" in notes[0]
