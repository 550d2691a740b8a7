"""Myocardial wall thickness at end-diastole, globally and per AHA segment (the phenotype ``WT``).

Method, per short-axis slice of the ED frame (as the UK Biobank pipeline, Bai et al. 2018 JCMR 20:65 and
``ukbb_cardiac``'s ``evaluate_wall_thickness``, re-implemented):

1. Every slice with at least 10 LV blood pool and 10 LV myocardium pixels is measured
   (:func:`cardiomm.quantify.aha.model_slices`), *whether or not its myocardial ring is closed*: a basal slice
   cut through the outflow tract, a septal gap where blood touches the RV, or an unlabelled papillary muscle
   inside the ring is measured as it is (the epicardial contour then follows the blood pool across the gap,
   so the thickness there is close to 0, as in UK Biobank). Such slices are reported in
   ``WallThickness.open_ring``; slices that are not measured have their reason in ``WallThickness.skipped``.
2. Endocardium: the largest connected LV blood pool; epicardium: the largest component of LV blood pool +
   myocardium with holes filled. Contours with ``skimage.measure.find_contours`` at level 0.5, each mask
   smoothed by a 0.7-pixel Gaussian first (anti-aliasing: the staircase of a binary mask biases nearest-point
   distances low; UK Biobank smooths its contours with a spline instead); points converted to mm.
3. Thickness at each endocardial contour point = its distance to the epicardial contour (the nearest point on
   the epicardial polyline).
4. Each endocardial point is assigned to an AHA segment by its angle (:mod:`cardiomm.quantify.aha`). Means are
   weighted by contour arc length (each vertex weighs half its two adjacent edges), the continuous form of
   UK Biobank's mean over evenly spaced contour points. The global value is the arc-length weighted mean over
   all measured points of all measured slices, so a slice weighs by its endocardial perimeter.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import measure

from cardiomm.conventions import LV_BLOOD, LV_MYO
from cardiomm.io.nifti import Geometry
from cardiomm.quantify.aha import (
    SEGMENTS,
    AHAOrientation,
    aha_segments,
    angles_mm,
    check_labels_3d,
    model_slices,
    orientation,
    segment_of_angle,
)

__all__ = ["WallThickness", "aha_segments", "closed_ring", "wall_thickness", "wall_thickness_details"]

_CROSS = ndimage.generate_binary_structure(2, 1)
#: Gaussian smoothing (pixels) of the masks before contouring.
CONTOUR_SMOOTHING_PX = 0.7


@dataclass(frozen=True)
class WallThickness:
    """Detailed wall thickness result.

    Attributes
    ----------
    global_mm: arc-length weighted mean thickness over all measured slices, mm (NaN if none measured).
    segments_mm: ``{1..16: mm}``, NaN for segments without a measured point.
    per_slice_mm: ``(nz,)`` mean thickness per slice, NaN where not measured.
    measured: ``(nz,)`` bool, slices measured.
    closed: ``(nz,)`` bool, slices whose blood pool is fully enclosed by myocardium (:func:`closed_ring`).
    open_ring: indices of measured slices whose ring is open (measured as UK Biobank does).
    skipped: ``{slice: reason}`` for the slices with labels that were not measured.
    n_points: ``{1..16: number of endocardial points}``.
    orientation: the AHA orientation used (``orientation.fallback`` flags image-axis segments).
    """

    global_mm: float
    segments_mm: dict[int, float]
    per_slice_mm: np.ndarray
    measured: np.ndarray
    closed: np.ndarray
    open_ring: tuple[int, ...]
    skipped: dict[int, str]
    n_points: dict[int, int]
    orientation: AHAOrientation


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=_CROSS)
    if n <= 1:
        return mask.copy()
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (int(np.argmax(sizes)) + 1)


def closed_ring(sl: np.ndarray) -> bool:
    """True if the main LV blood pool of one slice ``(ny, nx)`` is fully enclosed by LV myocardium."""
    blood = _largest_component(sl == LV_BLOOD)
    if not blood.any():
        return False
    border = ndimage.binary_dilation(blood, structure=_CROSS, border_value=0) & ~blood
    # Blood on the image edge is not enclosed either.
    on_edge = blood[0].any() or blood[-1].any() or blood[:, 0].any() or blood[:, -1].any()
    return bool(not on_edge and np.all(sl[border] == LV_MYO))


def _contour_mm(mask: np.ndarray, geom: Geometry) -> np.ndarray:
    """Longest 0.5 iso-contour of a binary mask as ``(n, 2)`` points ``(y, x)`` in mm, closed (last == first)."""
    # Anti-alias the staircase first: the nearest-point distance to a jagged contour is biased low
    # (about -0.3 pixel on a digital annulus; about -0.1 pixel after this smoothing).
    soft = ndimage.gaussian_filter(mask.astype(np.float64), CONTOUR_SMOOTHING_PX)
    padded = np.pad(soft, 1)  # so that contours touching the edge still close
    contours = measure.find_contours(padded, 0.5)
    c = max(contours, key=len) - 1.0
    return c * np.array([geom.dy, geom.dx])


def _point_to_polyline(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance from each point ``(n, 2)`` to the polyline ``(m, 2)`` (segments between consecutive vertices)."""
    a, b = poly[:-1], poly[1:]
    ab = b - a
    len2 = np.maximum((ab**2).sum(1), 1e-12)
    ap = points[:, None, :] - a[None, :, :]
    t = np.clip((ap * ab[None]).sum(-1) / len2[None], 0.0, 1.0)
    d = ap - t[..., None] * ab[None]
    return np.sqrt((d**2).sum(-1)).min(1)


def _arc_weights(closed_poly: np.ndarray) -> np.ndarray:
    """Half the length of the two edges next to each vertex of a closed polyline (last vertex == first)."""
    edges = np.sqrt((np.diff(closed_poly, axis=0) ** 2).sum(1))
    return 0.5 * (edges + np.roll(edges, 1))


def slice_thickness(sl: np.ndarray, geom: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thickness along the endocardium of one slice ``(ny, nx)`` with an LV blood pool and myocardium.

    Returns
    -------
    ``(points (n, 2) endocardial (y, x) in mm, thickness (n,) mm, arc-length weights (n,) mm)``.
    """
    blood = _largest_component(sl == LV_BLOOD)
    epi = _largest_component(ndimage.binary_fill_holes(blood | (sl == LV_MYO)))
    endo_c = _contour_mm(blood, geom)
    epi_c = _contour_mm(epi, geom)
    pts = endo_c[:-1]
    return pts, _point_to_polyline(pts, epi_c), _arc_weights(endo_c)


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    return float(np.sum(values * weights) / np.sum(weights)) if values.size else float("nan")


def wall_thickness_details(labels_ed: np.ndarray, geom: Geometry) -> WallThickness:
    """Wall thickness with everything needed to audit it (see the module docstring for the method).

    Parameters
    ----------
    labels_ed: labels of the ED frame, shape ``(nz, ny, nx)`` (slice 0 = base).
    geom: voxel geometry (dx, dy in mm).

    Raises
    ------
    ValueError: wrong shape or no LV myocardium at all.
    """
    labels_ed = check_labels_3d(labels_ed)
    if not (labels_ed == LV_MYO).any():
        raise ValueError(f"labels_ed: no LV myocardium (label {LV_MYO}) in any slice; wall thickness is undefined")
    ori = orientation(labels_ed, geom)
    nz = labels_ed.shape[0]
    measured = model_slices(labels_ed) & (ori.parts > 0)
    closed = np.array([closed_ring(labels_ed[z]) for z in range(nz)])
    skipped = {}
    for z in np.flatnonzero(~measured & np.isin(labels_ed, (LV_BLOOD, LV_MYO)).any(axis=(1, 2))):
        nb, nm = int((labels_ed[z] == LV_BLOOD).sum()), int((labels_ed[z] == LV_MYO).sum())
        skipped[int(z)] = f"slice {z}: {nb} LV blood pool and {nm} myocardium pixels (< 10 of either)"
    per_slice = np.full(nz, np.nan)
    all_t, all_w, all_s = [], [], []
    for z in np.flatnonzero(measured):
        pts, t, w = slice_thickness(labels_ed[z], geom)
        theta = angles_mm(pts[:, 0] / geom.dy, pts[:, 1] / geom.dx, ori.centres_mm[z], geom)
        all_s.append(segment_of_angle(theta, ori.origin_rad[z], int(ori.parts[z])))
        all_t.append(t)
        all_w.append(w)
        per_slice[z] = _weighted_mean(t, w)
    open_ring = tuple(int(z) for z in np.flatnonzero(measured & ~closed))
    if not all_t:
        warnings.warn("labels_ed: no slice has 10 LV blood pool and myocardium pixels; wall thickness is NaN",
                      stacklevel=2)
        nan_segments = {s: float("nan") for s in SEGMENTS}
        return WallThickness(float("nan"), nan_segments, per_slice, measured, closed, open_ring, skipped,
                             dict.fromkeys(SEGMENTS, 0), ori)
    t, w, s = np.concatenate(all_t), np.concatenate(all_w), np.concatenate(all_s)
    segments = {k: _weighted_mean(t[s == k], w[s == k]) for k in SEGMENTS}
    n_points = {k: int(np.count_nonzero(s == k)) for k in SEGMENTS}
    return WallThickness(_weighted_mean(t, w), segments, per_slice, measured, closed, open_ring, skipped,
                         n_points, ori)


def wall_thickness(labels_ed: np.ndarray, geom: Geometry) -> tuple[float, dict[int, float]]:
    """Global mean ED wall thickness (phenotype ``WT``, mm) and the mean of each AHA segment.

    Parameters
    ----------
    labels_ed: labels of the ED frame, shape ``(nz, ny, nx)`` (slice 0 = base).
    geom: voxel geometry (dx, dy in mm).

    Returns
    -------
    ``(global mean mm, {segment 1..16: mean mm})``; NaN where nothing could be measured.
    """
    res = wall_thickness_details(labels_ed, geom)
    return res.global_mm, res.segments_mm
