"""Automated quality control of a short-axis segmentation, in the style of the UK Biobank pipeline.

After Bai et al., "Automated cardiovascular magnetic resonance image analysis with fully convolutional
networks", JCMR 2018 (their ``sa_pass_quality_control``): a segmentation is flagged when

1. the LV blood pool is missing altogether, or a class is too small at end-diastole (ED) on the
   mid-ventricular slices (thresholds are areas in mm^2, converted to pixels with ``dx * dy``, so
   the test means the same at every resolution);
2. the slices that contain both LV blood pool and myocardium at ED are not contiguous (a gap), or
   are fewer than a minimum;
3. LV (blood pool plus myocardium, largest component) or RV is absent on the mid-ventricular
   slice (the slice at the LV's centre of mass along z, as Bai et al.);
4. the myocardium does not enclose the LV blood pool on the mid-ventricular slices: the fraction
   of the pixels just outside the blood pool (4-neighbour ring) that are myocardium is too low.
   (Basal slices are exempt: the LV outflow tract legitimately opens the ring there.)

For cine, "ED" is the frame with the largest LV blood pool, and in addition every frame must show an
LV blood pool on the mid-ventricular slice (a frame where the network lost the LV would corrupt
ESV and EF). For mapping series every label frame is checked (normally ``nt = 1``: one shared map).

QC only flags: a failing case is kept and reported with its reasons, never dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cardiomm.conventions import LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.io.nifti import Geometry
from cardiomm.segmentation.labels import validate_labels

_NAMES = {LV_BLOOD: "LV blood pool", LV_MYO: "LV myocardium", RV_BLOOD: "RV blood pool"}
_FOUR = ndimage.generate_binary_structure(2, 1)
_EIGHT = ndimage.generate_binary_structure(2, 2)


@dataclass(frozen=True)
class QCThresholds:
    """QC thresholds.

    Attributes
    ----------
    lv_blood_mm2, lv_myo_mm2, rv_blood_mm2: minimal area of each class on every mid-ventricular slice
        at ED (a normal mid-ventricular LV cavity at ED is 10-20 cm^2 = 1000-2000 mm^2).
    presence_mm2: area above which a structure counts as present on a slice (Bai et al. use 10
        pixels at ~1.8 mm, i.e. ~32 mm^2).
    min_lv_slices: minimal number of slices with LV blood pool and myocardium at ED, per kind.
    min_enclosure: minimal fraction of the LV blood pool's outer ring that is myocardium.
    """

    lv_blood_mm2: float = 100.0
    lv_myo_mm2: float = 100.0
    rv_blood_mm2: float = 50.0
    presence_mm2: float = 30.0
    min_lv_slices_cine: int = 3
    min_lv_slices_mapping: int = 1
    min_enclosure: float = 0.75


def _px(area_mm2: float, geom: Geometry) -> int:
    return max(1, math.ceil(area_mm2 / (geom.dx * geom.dy)))


def _largest_cc(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=_EIGHT)
    if n <= 1:
        return mask
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
    return lab == (1 + int(np.argmax(sizes)))


def mid_ventricular_slices(zmin: int, zmax: int) -> np.ndarray:
    """The middle third of the slice range ``[zmin, zmax]`` (at least the centre slice)."""
    z = np.arange(zmin, zmax + 1)
    n = len(z)
    return z[n // 3: n - n // 3] if n >= 3 else z


def enclosure_fraction(seg2d: np.ndarray) -> float:
    """Fraction of the 4-neighbour ring just outside the LV blood pool that is LV myocardium (NaN if no LV)."""
    lv = seg2d == LV_BLOOD
    if not lv.any():
        return math.nan
    ring = ndimage.binary_dilation(lv, structure=_FOUR) & ~lv
    return float((seg2d[ring] == LV_MYO).mean()) if ring.any() else 0.0


def _check_frame(seg: np.ndarray, t: int, geom: Geometry, kind: str, th: QCThresholds) -> tuple[list[str], int | None]:
    """QC criteria 1-4 on one label frame ``(nz, ny, nx)``; returns (reasons, centre slice or None)."""
    reasons: list[str] = []
    pres = _px(th.presence_mm2, geom)
    lv_area = (seg == LV_BLOOD).sum(axis=(1, 2))
    myo_area = (seg == LV_MYO).sum(axis=(1, 2))
    lv_z = np.flatnonzero((lv_area >= pres) & (myo_area >= pres))
    if lv_z.size == 0:
        return [f"frame {t}: no slice has both LV blood pool and myocardium (>= {pres} px each)"], None
    zmin, zmax = int(lv_z.min()), int(lv_z.max())
    missing = sorted(set(range(zmin, zmax + 1)) - set(lv_z.tolist()))
    if missing:
        reasons.append(f"frame {t}: gap in the LV/myocardium slices: slice(s) {missing} missing between "
                       f"slices {zmin} and {zmax}")
    need = th.min_lv_slices_cine if kind == "cine" else th.min_lv_slices_mapping
    if lv_z.size < need:
        reasons.append(f"frame {t}: only {lv_z.size} slice(s) with LV blood pool and myocardium (< {need})")

    # Criterion 3 on the centre slice, as Bai et al.: centre of mass of the LV blood pool along z.
    zc = int(round(float(np.average(np.arange(seg.shape[0]), weights=lv_area))))
    sl = seg[zc]
    epi = _largest_cc((sl == LV_BLOOD) | (sl == LV_MYO))
    rv = _largest_cc(sl == RV_BLOOD)
    for name, m in (("LV", epi), ("RV", rv)):
        if m.sum() < pres:
            reasons.append(f"frame {t}: {name} absent on the mid-ventricular slice {zc} ({int(m.sum())} px < {pres})")

    min_mm2 = {LV_BLOOD: th.lv_blood_mm2, LV_MYO: th.lv_myo_mm2, RV_BLOOD: th.rv_blood_mm2}
    for z in mid_ventricular_slices(zmin, zmax):
        for c, mm2 in min_mm2.items():
            n, m = int((seg[z] == c).sum()), _px(mm2, geom)
            if n < m:
                reasons.append(f"frame {t} slice {z}: {_NAMES[c]} {n} px < {m} px ({mm2:g} mm^2)")
        frac = enclosure_fraction(seg[z])
        if np.isfinite(frac) and frac < th.min_enclosure:
            reasons.append(f"frame {t} slice {z}: myocardium surrounds only {100 * frac:.0f}% of the LV blood "
                           f"pool border (< {100 * th.min_enclosure:.0f}%)")
    return reasons, zc


def qc_case(
    labels: np.ndarray, geom: Geometry, kind: str, thresholds: QCThresholds | None = None
) -> tuple[bool, str]:
    """Quality-control one segmented series.

    Parameters
    ----------
    labels: uint8 label maps ``(nt, nz, ny, nx)`` in our convention (slice 0 = base).
    geom: the series geometry (``dx``, ``dy`` in mm scale the area thresholds).
    kind: ``"cine"`` (checks ED, plus LV presence mid-ventricle in every frame) or ``"mapping"``
        (checks every label frame).
    thresholds: QC thresholds (default :class:`QCThresholds`).

    Returns
    -------
    ``(passed, reason)``: ``reason`` is ``""`` when passed, else every failed criterion, ``"; "``-joined.

    Raises
    ------
    ValueError
        if ``labels`` is not 4D, holds values outside {0, 1, 2, 3}, or ``kind`` is unknown (bad input
        is an error, not a QC failure).
    """
    if kind not in ("cine", "mapping"):
        raise ValueError(f"qc_case: kind must be 'cine' or 'mapping', got {kind!r}")
    seg = validate_labels(labels, "qc_case labels")
    if seg.ndim != 4:
        raise ValueError(f"qc_case: labels must be (nt, nz, ny, nx), got shape {seg.shape}")
    th = thresholds or QCThresholds()
    lv_per_frame = (seg == LV_BLOOD).sum(axis=(1, 2, 3))
    if not lv_per_frame.any():
        return False, "no LV blood pool segmented in any frame (empty segmentation)"
    reasons: list[str] = []
    if kind == "cine":
        ed = int(np.argmax(lv_per_frame))
        frame_reasons, zc = _check_frame(seg[ed], ed, geom, kind, th)
        reasons += [f"ED {r}" for r in frame_reasons]
        if zc is not None:
            pres = _px(th.presence_mm2, geom)
            lost = np.flatnonzero((seg[:, zc] == LV_BLOOD).sum(axis=(1, 2)) < pres)
            if lost.size:
                reasons.append(f"no LV blood pool on the mid-ventricular slice {zc} in frame(s) {lost.tolist()}")
    else:
        for t in range(seg.shape[0]):
            reasons += _check_frame(seg[t], t, geom, kind, th)[0]
    return (not reasons), "; ".join(reasons)
