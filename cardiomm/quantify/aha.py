"""AHA 16-segment model of the left ventricle on a short-axis stack, as the UK Biobank pipeline defines it.

Method (used by the wall thickness and the mapping biomarkers alike), following Bai et al. 2018 JCMR 20:65
and their public ``ukbb_cardiac`` code (``determine_aha_coordinate_system``, ``determine_aha_part``,
``determine_aha_segment_id``), re-implemented here:

1. Parts. The slices with at least :data:`MIN_PIXELS` LV blood pool and :data:`MIN_PIXELS` LV myocardium pixels
   (slice 0 = base, last = apex) are split into three contiguous groups, basal (segments 1-6), mid (7-12) and
   apical (13-16), of ``ceil(n/3)``, ``ceil(2n/3) - ceil(n/3)`` and the rest (``numpy.array_split`` gives the
   same sizes). Myocardium-only slices (the apical cap, segment 17 in the 17-segment model) get no segment.
2. Centre. Per slice, the LV centre is the centroid of the (largest component of the) LV blood pool, in mm.
3. Angles. Measured in mm around the LV centre, counter-clockwise as displayed with the image row axis
   pointing down: ``theta = atan2(-(row - rc) * dy, (col - cc) * dx)``.
4. One angular origin for the whole stack, from the mid-cavity slice (the slice at the LV blood pool's centroid
   along z): the septum is where the epicardial border (boundary pixels of the largest component of LV blood
   + myocardium) meets the RV blood pool dilated by a 3x3 square, one more iteration at a time until they
   meet; its middle (the angular midpoint of that contact arc) is the mid-septum direction. UK Biobank takes
   the middle point of the contact list in contour order, which is the same point unless the contour starts
   inside the arc. If the mid-cavity slice has no RV, the nearest slice with one is used; if none has, the
   image axes (septum on the image left, 180 degrees) and the result is flagged (``AHAOrientation.fallback``)
   with an :class:`AHAOrientationWarning`.
5. Segments. In the standard display (viewed from the apex, anterior up, RV on the image left) AHA order
   anterior -> septum -> inferior -> lateral runs counter-clockwise. Basal and mid: six 60-degree sectors, the
   mid-septum direction being the border between anteroseptal (2/8) and inferoseptal (3/9): counter-clockwise
   from ``origin = mid-septum - 60 degrees``: anteroseptal (2/8), inferoseptal (3/9), inferior (4/10),
   inferolateral (5/11), anterolateral (6/12), anterior (1/7). Apical: four 90-degree sectors, septal (14)
   centred on the mid-septum, then inferior (15), lateral (16), anterior (13). Mirrored images would swap
   anterior and inferior; this is the one assumption on orientation.

Before issue 18 the origin was each slice's anterior RV insertion point with fixed 60-degree sectors; the two
agree only when the RV contact arc spans 120 degrees (``tests/test_wall_thickness.py`` measures the shift).
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
#: Fewest LV blood pool and LV myocardium pixels for a slice to be part of the AHA model (UK Biobank: 10).
MIN_PIXELS = 10
#: Offset of the sector origin before the mid-septum direction.
SEPTUM_OFFSET_RAD = np.pi / 3
_MAX_RV_DILATIONS = 20
_SQUARE = np.ones((3, 3), dtype=bool)
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
    parts: ``(nz,)`` int, 0 not in the model, 1 basal, 2 mid, 3 apical.
    centres_mm: ``(nz, 2)`` LV centre ``(y, x)`` in mm (row * dy, col * dx), NaN where no LV blood or myocardium.
    origin_rad: ``(nz,)`` start of the anteroseptal sector (mid-septum - 60 degrees), radians in [0, 2 pi), the
        same for every slice with an LV, NaN elsewhere.
    source: per slice, how the origin was found: ``"mid_septum"`` (on the mid-cavity slice ``septum_slice``),
        ``"image_axes"`` or ``"none"`` (no LV).
    fallback: True if no RV was found in any slice and the image axes were used.
    septum_slice: slice whose RV contact gave the mid-septum (-1 with the fallback).
    """

    parts: np.ndarray
    centres_mm: np.ndarray
    origin_rad: np.ndarray
    source: tuple[str, ...]
    fallback: bool
    septum_slice: int = -1


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


def model_slices(labels_ed: np.ndarray) -> np.ndarray:
    """Slices in the AHA model: at least :data:`MIN_PIXELS` LV blood pool and LV myocardium pixels, ``(nz,)`` bool."""
    labels_ed = check_labels_3d(labels_ed)
    blood = (labels_ed == LV_BLOOD).sum(axis=(1, 2))
    myo = (labels_ed == LV_MYO).sum(axis=(1, 2))
    return (blood >= MIN_PIXELS) & (myo >= MIN_PIXELS)


def slice_parts(labels_ed: np.ndarray) -> np.ndarray:
    """Basal / mid / apical part of each slice: ``(nz,)`` int (0 for slices outside the model)."""
    labels_ed = check_labels_3d(labels_ed)
    idx = np.flatnonzero(model_slices(labels_ed))
    parts = np.full(labels_ed.shape[0], PART_NONE, dtype=np.int8)
    for part, sel in zip((PART_BASAL, PART_MID, PART_APICAL), np.array_split(idx, 3)):
        parts[sel] = part
    return parts


def angles_mm(rows: np.ndarray, cols: np.ndarray, centre_mm: np.ndarray, geom: Geometry) -> np.ndarray:
    """Counter-clockwise display angle (radians, [0, 2 pi)) of pixel positions around ``centre_mm``.

    ``rows``, ``cols`` are (sub)pixel coordinates of any shape; ``centre_mm`` is ``(y, x)`` in mm.
    """
    y = np.asarray(rows, dtype=np.float64) * geom.dy - centre_mm[0]
    x = np.asarray(cols, dtype=np.float64) * geom.dx - centre_mm[1]
    return np.mod(np.arctan2(-y, x), _TWO_PI)


def _arc_mid(theta: np.ndarray) -> float:
    """Angular midpoint of the arc covered by the angles (the complement of their largest gap)."""
    t = np.sort(np.mod(theta, _TWO_PI))
    gaps = np.diff(np.concatenate([t, t[:1] + _TWO_PI]))
    i = int(np.argmax(gaps))
    start = t[(i + 1) % t.size]
    span = _TWO_PI - gaps[i]
    return float(np.mod(start + span / 2.0, _TWO_PI))


def _largest(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    return lab == (1 + int(np.argmax(np.bincount(lab.ravel())[1:])))


def mid_septum_angle(sl: np.ndarray, centre_mm: np.ndarray, geom: Geometry) -> float | None:
    """Mid-septum direction (radians) of one slice ``(ny, nx)`` around ``centre_mm``; ``None`` without an RV."""
    rv = _largest(sl == RV_BLOOD)
    if not rv.any():
        return None
    epi = _largest((_largest(sl == LV_BLOOD)) | (sl == LV_MYO))
    border = epi & ~ndimage.binary_erosion(epi)
    grown = rv
    for _ in range(_MAX_RV_DILATIONS):
        grown = ndimage.binary_dilation(grown, structure=_SQUARE)
        contact = border & grown
        if contact.any():
            r, c = np.nonzero(contact)
            return _arc_mid(angles_mm(r, c, centre_mm, geom))
    return None


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
    for z in range(nz):
        blood = _largest(labels_ed[z] == LV_BLOOD)
        lv = blood if blood.any() else labels_ed[z] == LV_MYO
        if lv.any():
            r, c = np.nonzero(lv)
            centres[z] = (r.mean() * geom.dy, c.mean() * geom.dx)
    has_lv = ~np.isnan(centres[:, 0])
    origin = np.full(nz, np.nan)
    source = ["none"] * nz
    lv_z = np.nonzero(labels_ed == LV_BLOOD)[0]
    if not lv_z.size:  # no cavity anywhere (e.g. apical caps only): the myocardium's centroid slice
        lv_z = np.nonzero(labels_ed == LV_MYO)[0]
    septum, septum_slice = None, -1
    if lv_z.size:
        z_mid = int(round(float(lv_z.mean())))
        for z in sorted(np.flatnonzero(has_lv), key=lambda k: (abs(k - z_mid), k)):
            septum = mid_septum_angle(labels_ed[z], centres[z], geom)
            if septum is not None:
                septum_slice = int(z)
                break
    fallback = bool(has_lv.any() and septum is None)
    if has_lv.any():
        value = FALLBACK_ORIGIN_RAD if fallback else float(np.mod(septum - SEPTUM_OFFSET_RAD, _TWO_PI))
        origin[has_lv] = value
        for z in np.flatnonzero(has_lv):
            source[z] = "image_axes" if fallback else "mid_septum"
    if fallback:
        warnings.warn(
            "labels_ed: no RV blood pool in any slice; AHA segments use the image axes (anterior up, septum left)",
            AHAOrientationWarning,
            stacklevel=2,
        )
    return AHAOrientation(parts, centres, origin, tuple(source), fallback, septum_slice)


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
