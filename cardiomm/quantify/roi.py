"""Myocardial regions of interest of a mapping series, and their summary statistic: one definition for the
measurement (reference, every method, either label source) and for the phantom's truth.

ROIs (:data:`ROIS`), each a bool ``(nz, ny, nx)`` mask built from one label map:

- ``consensus`` (the headline): the SCMR/EACVI mapping consensus ROI (Messroghli et al. 2017, JCMR 19:75): a
  conservative region in the mid-wall of the septum on a mid-ventricular short-axis slice. Here: the LV
  myocardium of the mid-ventricular slice (:func:`mid_ventricular_slice`) within :data:`SEPTUM_HALF_WIDTH_DEG`
  of the mid-septum direction (the AHA model's, :mod:`cardiomm.quantify.aha`: the middle of the LV's contact with
  the RV; the adjoining halves of segments 8 and 9), kept only strictly inside the middle third of the wall and at least
  :data:`MIN_BORDER_PX` pixels from both borders (:func:`midwall`). Partial volume with blood (long T1) and with
  the fat of the interventricular grooves at the RV insertion points (short T1) is what it keeps out; a
  segmentation a pixel or two off still leaves it inside the true wall. Measured on the shipped segmenter's labels
  (``benchmarks/results/consensus_roi.md``): the full 120 degrees of segments 8 and 9 reached the groove fat of an
  infarct subject (74-98% inside for the reference, SENSE and E2E-VarNet); +-30 degrees stays inside wherever the
  septum's segmentation is not grossly wrong.
- ``global`` (secondary): the LV myocardium eroded by one pixel per slice (4-neighbourhood), every slice.
- ``AHA1`` .. ``AHA16``: ``global`` within each AHA segment.

Statistic: the median over the ROI's valid pixels (:data:`STATISTIC`). Why the median and not the mean: an
automatic myocardium that reaches a pixel or two into the blood pool (blood T1 is 1.5-1.6 times myocardial T1)
or into epicardial fat (a quarter of it) adds tails of very different values, and the mean (breakdown point 0)
follows them; the phantom's truth uses the same ROI and the same statistic on the true parameter maps.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from cardiomm.conventions import LV_BLOOD, LV_MYO
from cardiomm.io.nifti import Geometry
from cardiomm.quantify.aha import (
    PART_MID,
    SEGMENTS,
    SEPTUM_OFFSET_RAD,
    AHAOrientationWarning,
    angles_mm,
    orientation,
    segment_of_angle,
    slice_parts,
)

CONSENSUS = "consensus"
GLOBAL = "global"
ROIS: tuple[str, ...] = (CONSENSUS, GLOBAL, *(f"AHA{s}" for s in SEGMENTS))
#: half-width of the consensus ROI's sector around the mid-septum direction (degrees)
SEPTUM_HALF_WIDTH_DEG = 30.0
#: a consensus-ROI pixel is at least this far (pixel centres, in pixels) from the blood pool and from the epicardium
MIN_BORDER_PX = 2.0
#: fewest consensus-ROI pixels for a value (fewer: NaN with the reason)
MIN_CONSENSUS_PIXELS = 10
STATISTIC = "median"


def _slices(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 4 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.ndim != 3:
        raise ValueError(f"labels: expected (1, nz, ny, nx) or (nz, ny, nx), got shape {labels.shape}")
    return labels


def global_roi(labels: np.ndarray) -> np.ndarray:
    """The LV myocardium eroded by one pixel per slice: ``labels (nz, ny, nx)`` -> bool ``(nz, ny, nx)``."""
    labels = _slices(labels)
    return np.stack([ndimage.binary_erosion(sl == LV_MYO) for sl in labels]) if labels.size else labels == LV_MYO


def midwall(sl: np.ndarray, geom: Geometry) -> np.ndarray:
    """Mid-wall LV myocardium of one slice ``(ny, nx)``: bool ``(ny, nx)``.

    ``d_endo`` / ``d_epi``: distance of a myocardial pixel's centre to the nearest LV blood pixel / to the nearest
    pixel that is neither LV myocardium nor LV blood (RV cavity, fat, lung), in pixels (mm over the smaller pixel
    side). Kept: ``min(d_endo, d_epi) >= MIN_BORDER_PX`` and strictly the middle third of the wall,
    ``1/3 < d_endo / (d_endo + d_epi) < 2/3``: a pixel at exactly a third (the second of a five-pixel wall) is left
    out, the conservative side of the tie (measured on the shipped segmenter's labels of a 3-subject run: with it,
    the consensus ROIs of every method at ktRadial24 were 94-97% inside the true wall, without it 98-100%;
    ``benchmarks/results/consensus_roi.md``). Without an LV blood pool nothing is kept.
    """
    myo = sl == LV_MYO
    blood = sl == LV_BLOOD
    if not (myo.any() and blood.any()):
        return np.zeros(sl.shape, dtype=bool)
    sampling = np.array([geom.dy, geom.dx]) / min(geom.dy, geom.dx)
    d_endo = ndimage.distance_transform_edt(~blood, sampling=sampling)
    d_epi = ndimage.distance_transform_edt(myo | blood, sampling=sampling)
    t = d_endo / np.maximum(d_endo + d_epi, 1e-9)
    tie = 1e-9  # distances are square roots of integers: a ratio of exactly 1/3 must not depend on rounding
    return myo & (np.minimum(d_endo, d_epi) >= MIN_BORDER_PX) & (t > 1 / 3 + tie) & (t < 2 / 3 - tie)


def mid_ventricular_slice(labels: np.ndarray) -> int | None:
    """Index of the mid-ventricular slice: the middle one of the AHA mid part (:func:`aha.slice_parts`);
    ``None`` if no slice is in the mid part."""
    mid = np.flatnonzero(slice_parts(_slices(labels)) == PART_MID)
    return int(mid[(mid.size - 1) // 2]) if mid.size else None


def roi_masks(labels: np.ndarray, geom: Geometry) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every ROI of :data:`ROIS` from one label map ``(1, nz, ny, nx)`` or ``(nz, ny, nx)``.

    Returns ``(masks, reasons)``: ``masks[roi]`` bool ``(nz, ny, nx)`` (empty where it cannot be built),
    ``reasons[roi]`` why it is empty or too small (absent where the ROI is usable).
    """
    labels = _slices(labels)
    glob = global_roi(labels)
    masks = {GLOBAL: glob}
    reasons: dict[str, str] = {}
    segments = np.zeros(labels.shape, dtype=np.int8)
    consensus = np.zeros(labels.shape, dtype=bool)
    if (labels == LV_MYO).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AHAOrientationWarning)  # no RV: the image axes, flagged in ``ori``
            ori = orientation(labels, geom)
        for z in np.flatnonzero(ori.parts):  # as aha.aha_segments, keeping the angles for the septal sector
            r, c = np.nonzero(labels[z] == LV_MYO)
            theta = angles_mm(r, c, ori.centres_mm[z], geom)
            segments[z, r, c] = segment_of_angle(theta, ori.origin_rad[z], int(ori.parts[z]))
        z = mid_ventricular_slice(labels)
        if z is None:
            reasons[CONSENSUS] = "no mid-ventricular slice (too few slices with LV blood and myocardium)"
        elif ori.fallback:
            reasons[CONSENSUS] = "no RV blood pool in any slice: the septum cannot be located"
        else:
            r, c = np.nonzero(midwall(labels[z], geom))
            off = angles_mm(r, c, ori.centres_mm[z], geom) - (ori.origin_rad[z] + SEPTUM_OFFSET_RAD)
            near = np.abs(np.angle(np.exp(1j * off))) <= np.deg2rad(SEPTUM_HALF_WIDTH_DEG)
            consensus[z, r[near], c[near]] = True
            if consensus.sum() < MIN_CONSENSUS_PIXELS:
                reasons[CONSENSUS] = (f"{int(consensus.sum())} septal mid-wall pixels in the mid-ventricular "
                                      f"slice {z} (< {MIN_CONSENSUS_PIXELS})")
    else:
        reasons[CONSENSUS] = "no LV myocardium label"
    for s in SEGMENTS:
        masks[f"AHA{s}"] = glob & (segments == s)
    masks[CONSENSUS] = consensus
    if not glob.any():
        had = bool((labels == LV_MYO).any())
        reasons[GLOBAL] = "no LV myocardium pixels remain after one-pixel erosion" if had else "no LV myocardium label"
    for s in SEGMENTS:
        if not masks[f"AHA{s}"].any():
            reasons[f"AHA{s}"] = f"no eroded LV myocardium in AHA segment {s}"
    return {r: masks[r] for r in ROIS}, reasons


def summarise(values: np.ndarray, valid: np.ndarray, roi: np.ndarray) -> dict:
    """Median (:data:`STATISTIC`), mean and SD of ``values`` over the valid pixels of ``roi`` (all ``(nz, ny, nx)``).

    Returns ``{value, mean, sd, n_pixels, n_valid, valid_fraction}``; NaN statistics where no pixel is valid.
    """
    values, valid, roi = np.asarray(values, dtype=np.float64), np.asarray(valid, dtype=bool), np.asarray(roi, bool)
    if not (values.shape == valid.shape == roi.shape):
        raise ValueError(f"values, valid, roi: expected one shape, got {values.shape}, {valid.shape}, {roi.shape}")
    ok = roi & valid & np.isfinite(values)
    v = values[ok]
    n = int(roi.sum())
    return {
        "value": float(np.median(v)) if v.size else float("nan"),
        "mean": float(v.mean()) if v.size else float("nan"),
        "sd": float(v.std(ddof=1)) if v.size > 1 else float("nan"),
        "n_pixels": n,
        "n_valid": int(v.size),
        "valid_fraction": v.size / n if n else float("nan"),
    }
