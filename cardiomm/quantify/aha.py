"""AHA 16-segment model of the left ventricle on a short-axis stack.

Method (used by the wall thickness and the mapping biomarkers alike):

1. Parts. The slices that contain LV myocardium (slice 0 = base, last = apex) are split into three
   contiguous groups of (nearly) equal size with ``numpy.array_split``: basal (segments 1-6), mid (7-12),
   apical (13-16). A stack with fewer than three myocardial slices has no apical (and, with one slice, no
   mid) part.
2. Centre. Per slice, the LV centre is the centroid of the LV blood pool (in mm), which, unlike the centroid
   of blood + myocardium, does not shift towards a thicker wall; slices without a cavity (apical cap) use the
   centroid of the myocardium.
3. Angles. Angles are measured in mm (so anisotropic pixels are handled) around the LV centre, counter-
   clockwise as displayed with the image row axis pointing down: ``theta = atan2(-(row - rc) * dy,
   (col - cc) * dx)``.
4. Angular origin: the anterior RV insertion point. Per slice, the RV blood pixels within 1.5 pixels (mm
   distance) of the LV myocardium are the septal contact; their angles form an arc (the complement of the
   largest angular gap between them). The two ends of the arc are the insertion points; the anterior one
   is the arc's start when going counter-clockwise, because in the standard short-axis display (viewed
   from the apex, anterior up, RV on the image left) the AHA order anterior -> septum -> inferior ->
   lateral runs counter-clockwise. Mirrored images would swap anterior and inferior; this is the one
   assumption on orientation. If the RV is present but does not touch the myocardium, the septum centre is
   taken along the direction of the RV centroid and the anterior insertion 60 degrees before it. Slices
   without RV take the origin of the nearest slice that has one. If no slice has an RV the image axes are
   used (anterior = up, septum = left: origin at 120 degrees) and the result is flagged
   (``AHAOrientation.fallback``) with an :class:`AHAOrientationWarning`.
5. Segments. Basal and mid: six 60-degree sectors counter-clockwise from the anterior insertion:
   anteroseptal (2/8), inferoseptal (3/9), inferior (4/10), inferolateral (5/11), anterolateral (6/12),
   anterior (1/7). Apical: four 90-degree sectors centred on the septum (origin + 60 degrees): septal (14),
   inferior (15), lateral (16), anterior (13).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cardiomm.conventions import LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.io.nifti import Geometry

N_SEGMENTS = 16
SEGMENTS: tuple[int, ...] = tuple(range(1, N_SEGMENTS + 1))
PART_NONE, PART_BASAL, PART_MID, PART_APICAL = 0, 1, 2, 3
#: Origin used when no RV is visible: standard display, septum centre at 180 degrees.
FALLBACK_ORIGIN_RAD = np.deg2rad(120.0)
#: Sector index (counter-clockwise from the anterior insertion) -> segment number.
_BASAL_ORDER = np.array([2, 3, 4, 5, 6, 1])
_APICAL_ORDER = np.array([14, 15, 16, 13])
_TWO_PI = 2.0 * np.pi


class AHAOrientationWarning(UserWarning):
    """The AHA angular origin could not be found from the RV and falls back to the image axes."""


@dataclass(frozen=True)
class AHAOrientation:
    """Where each slice sits in the AHA model.

    Attributes
    ----------
    parts: ``(nz,)`` int, 0 no myocardium, 1 basal, 2 mid, 3 apical.
    centres_mm: ``(nz, 2)`` LV centre ``(y, x)`` in mm (row * dy, col * dx), NaN where no LV blood or myocardium.
    origin_rad: ``(nz,)`` angle of the anterior RV insertion point, radians in [0, 2 pi), NaN where no LV.
    source: per slice, how the origin was found: ``"rv_contact"``, ``"rv_centroid"``, ``"nearest_slice"``,
        ``"image_axes"`` or ``"none"`` (no LV).
    fallback: True if no RV was found in any slice and the image axes were used.
    """

    parts: np.ndarray
    centres_mm: np.ndarray
    origin_rad: np.ndarray
    source: tuple[str, ...]
    fallback: bool


def check_labels_3d(labels: np.ndarray, name: str = "labels_ed") -> np.ndarray:
    """Return ``labels`` as an integer ``(nz, ny, nx)`` array or raise a ``ValueError``."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"{name}: expected one frame of labels with shape (nz, ny, nx), got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        if not np.all(np.isfinite(labels)) or not np.array_equal(labels, np.round(labels)):
            raise ValueError(f"{name}: label values must be integers, got non-integer {labels.dtype} data")
        labels = labels.astype(np.int16)
    return labels


def slice_parts(labels_ed: np.ndarray) -> np.ndarray:
    """Basal / mid / apical part of each slice: ``(nz,)`` int (0 for slices without LV myocardium)."""
    labels_ed = check_labels_3d(labels_ed)
    has_myo = np.flatnonzero((labels_ed == LV_MYO).any(axis=(1, 2)))
    parts = np.full(labels_ed.shape[0], PART_NONE, dtype=np.int8)
    for part, idx in zip((PART_BASAL, PART_MID, PART_APICAL), np.array_split(has_myo, 3)):
        parts[idx] = part
    return parts


def angles_mm(rows: np.ndarray, cols: np.ndarray, centre_mm: np.ndarray, geom: Geometry) -> np.ndarray:
    """Counter-clockwise display angle (radians, [0, 2 pi)) of pixel positions around ``centre_mm``.

    ``rows``, ``cols`` are (sub)pixel coordinates of any shape; ``centre_mm`` is ``(y, x)`` in mm.
    """
    y = np.asarray(rows, dtype=np.float64) * geom.dy - centre_mm[0]
    x = np.asarray(cols, dtype=np.float64) * geom.dx - centre_mm[1]
    return np.mod(np.arctan2(-y, x), _TWO_PI)


def _arc_start(theta: np.ndarray) -> float:
    """Start (counter-clockwise) of the arc covered by the angles: the angle just after the largest gap."""
    t = np.sort(theta)
    gaps = np.diff(np.concatenate([t, t[:1] + _TWO_PI]))
    return float(t[(int(np.argmax(gaps)) + 1) % t.size])


def _slice_origin(sl: np.ndarray, centre_mm: np.ndarray, geom: Geometry) -> tuple[float, str] | None:
    """Anterior RV insertion angle of one slice, or ``None`` if the slice has no RV."""
    rv = sl == RV_BLOOD
    if not rv.any():
        return None
    myo = sl == LV_MYO
    # Distance (mm) from each pixel to the myocardium; RV pixels this close are in contact with the septum.
    dist = ndimage.distance_transform_edt(~myo, sampling=(geom.dy, geom.dx))
    contact = rv & (dist <= 1.5 * max(geom.dx, geom.dy))
    if np.count_nonzero(contact) >= 3:
        r, c = np.nonzero(contact)
        return _arc_start(angles_mm(r, c, centre_mm, geom)), "rv_contact"
    r, c = np.nonzero(rv)
    septum = angles_mm(r.mean(), c.mean(), centre_mm, geom)
    return float(np.mod(septum - np.pi / 3, _TWO_PI)), "rv_centroid"


def orientation(labels_ed: np.ndarray, geom: Geometry) -> AHAOrientation:
    """Parts, LV centres and angular origin of every slice (see the module docstring for the method).

    Parameters
    ----------
    labels_ed: one frame of labels, shape ``(nz, ny, nx)``.
    geom: voxel geometry (dx, dy in mm).
    """
    labels_ed = check_labels_3d(labels_ed)
    nz = labels_ed.shape[0]
    parts = slice_parts(labels_ed)
    centres = np.full((nz, 2), np.nan)
    origin = np.full(nz, np.nan)
    source = ["none"] * nz
    for z in range(nz):
        # The cavity centroid does not move when one wall is thicker than the other; the apical cap has none.
        blood = labels_ed[z] == LV_BLOOD
        lv = blood if blood.any() else labels_ed[z] == LV_MYO
        if not lv.any():
            continue
        r, c = np.nonzero(lv)
        centres[z] = (r.mean() * geom.dy, c.mean() * geom.dx)
        found = _slice_origin(labels_ed[z], centres[z], geom)
        if found is not None:
            origin[z], source[z] = found
    has_lv = ~np.isnan(centres[:, 0])
    known = np.flatnonzero(~np.isnan(origin))
    fallback = bool(has_lv.any() and known.size == 0)
    for z in np.flatnonzero(has_lv & np.isnan(origin)):
        if fallback:
            origin[z], source[z] = FALLBACK_ORIGIN_RAD, "image_axes"
        else:
            nearest = known[np.argmin(np.abs(known - z))]
            origin[z], source[z] = origin[nearest], "nearest_slice"
    if fallback:
        warnings.warn(
            "labels_ed: no RV blood pool in any slice; AHA segments use the image axes (anterior up, septum left)",
            AHAOrientationWarning,
            stacklevel=2,
        )
    return AHAOrientation(parts, centres, origin, tuple(source), fallback)


def segment_of_angle(theta: np.ndarray, origin_rad: float, part: int) -> np.ndarray:
    """AHA segment number (1..16) of angles ``theta`` (radians) in a slice of the given part (1, 2 or 3)."""
    rel = np.mod(np.asarray(theta) - origin_rad, _TWO_PI)
    if part in (PART_BASAL, PART_MID):
        sector = np.minimum((rel // (np.pi / 3)).astype(np.int64), 5)
        return _BASAL_ORDER[sector] + (6 if part == PART_MID else 0)
    if part == PART_APICAL:
        # Apical sectors are 90 degrees wide and centred on the septum (origin + 60 degrees).
        rel = np.mod(rel - np.pi / 12, _TWO_PI)
        return _APICAL_ORDER[np.minimum((rel // (np.pi / 2)).astype(np.int64), 3)]
    raise ValueError(f"part: expected 1 (basal), 2 (mid) or 3 (apical), got {part}")


def aha_segments(labels_ed: np.ndarray, geom: Geometry) -> np.ndarray:
    """AHA segment map of the LV myocardium.

    Parameters
    ----------
    labels_ed: one frame of labels, shape ``(nz, ny, nx)`` (slice 0 = base).
    geom: voxel geometry (dx, dy in mm).

    Returns
    -------
    ``(nz, ny, nx)`` int8: 0 outside the LV myocardium, 1..16 inside.
    """
    labels_ed = check_labels_3d(labels_ed)
    ori = orientation(labels_ed, geom)
    seg = np.zeros(labels_ed.shape, dtype=np.int8)
    for z in np.flatnonzero(ori.parts):
        r, c = np.nonzero(labels_ed[z] == LV_MYO)
        theta = angles_mm(r, c, ori.centres_mm[z], geom)
        seg[z, r, c] = segment_of_angle(theta, ori.origin_rad[z], int(ori.parts[z]))
    return seg
