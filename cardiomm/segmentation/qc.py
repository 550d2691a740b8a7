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

Beyond Bai et al., checks aimed at the typical failures of a *foreign* model (one trained elsewhere, run on
our images), each with its own reason:

5. **LV <-> RV swapped** (a model with another label convention, or a mapping declared wrongly): on the
   mid-ventricular slices the myocardium encloses the label called RV better than the label called LV
   (:func:`enclosure_fraction` of each), which no heart does;
6. **empty apex or base** (cine): the LV (blood pool or myocardium) ends abruptly, with a cross-section of
   at least ``edge_fraction`` of its largest, next to a slice of the stack where nothing is segmented.
   A real apex tapers; a real base ends at the valve plane (the stack's first slice, slice 0, is the
   base in our layout), so this catches a model that gives up on the apical or basal slices. A stack
   that extends above the valve plane may trip the base check: raise ``edge_fraction`` there;
7. **myocardium that does not close in any frame** (cine): criterion 4 on the ED mid-ventricular slices
   in every frame, not only at ED;
8. **temporal volume curve that is not one cardiac cycle** (cine, ``nt >= min_frames_cycle``): the LV and
   the RV blood-pool volume curves must change by at least ``min_volume_change`` of their maximum, and
   their first temporal harmonic (one cycle per series) must be the largest (a two-cycle, saw-tooth or
   flickering curve means frames were segmented inconsistently);
9. **LV or RV lost in a frame** (cine): LV blood pool, LV myocardium and RV blood pool must all be present
   on the mid-ventricular slice in every frame (both ventricles, every frame used for ED and ES).

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
    edge_fraction: an LV end slice with at least this fraction of the largest LV cross-section, next to an
        empty slice of the stack, is an empty apex or base.
    min_frames_cycle: cine series with fewer frames skip the volume-curve checks.
    min_volume_change: minimal (max - min) / max of the LV and RV blood-pool volume curves (an EF of 5%).
    """

    lv_blood_mm2: float = 100.0
    lv_myo_mm2: float = 100.0
    rv_blood_mm2: float = 50.0
    presence_mm2: float = 30.0
    min_lv_slices_cine: int = 3
    min_lv_slices_mapping: int = 1
    min_enclosure: float = 0.75
    edge_fraction: float = 0.5
    min_frames_cycle: int = 5
    min_volume_change: float = 0.05


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


def enclosure_fraction(seg2d: np.ndarray, label: int = LV_BLOOD) -> float:
    """Fraction of the 4-neighbour ring just outside ``label`` (default LV blood) that is LV myocardium.

    NaN if ``label`` is absent from the slice ``(ny, nx)``.
    """
    lv = seg2d == label
    if not lv.any():
        return math.nan
    ring = ndimage.binary_dilation(lv, structure=_FOUR) & ~lv
    return float((seg2d[ring] == LV_MYO).mean()) if ring.any() else 0.0


def _check_frame(seg: np.ndarray, t: int, geom: Geometry, kind: str,
                 th: QCThresholds) -> tuple[list[str], int | None, np.ndarray]:
    """QC criteria 1-4 on one label frame ``(nz, ny, nx)``: (reasons, centre slice or None, mid slices)."""
    reasons: list[str] = []
    pres = _px(th.presence_mm2, geom)
    lv_area = (seg == LV_BLOOD).sum(axis=(1, 2))
    myo_area = (seg == LV_MYO).sum(axis=(1, 2))
    lv_z = np.flatnonzero((lv_area >= pres) & (myo_area >= pres))
    if lv_z.size == 0:
        return ([f"frame {t}: no slice has both LV blood pool and myocardium (>= {pres} px each)"], None,
                np.array([], dtype=int))
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
    mid = mid_ventricular_slices(zmin, zmax)
    for z in mid:
        for c, mm2 in min_mm2.items():
            n, m = int((seg[z] == c).sum()), _px(mm2, geom)
            if n < m:
                reasons.append(f"frame {t} slice {z}: {_NAMES[c]} {n} px < {m} px ({mm2:g} mm^2)")
        frac = enclosure_fraction(seg[z])
        if np.isfinite(frac) and frac < th.min_enclosure:
            reasons.append(f"frame {t} slice {z}: myocardium surrounds only {100 * frac:.0f}% of the LV blood "
                           f"pool border (< {100 * th.min_enclosure:.0f}%)")
    return reasons, zc, mid


def swapped_labels(frame: np.ndarray, mid: np.ndarray, t: int) -> list[str]:
    """Criterion 5: the myocardium encloses the 'RV' label better than the 'LV' label on the mid slices."""
    lv = [enclosure_fraction(frame[z], LV_BLOOD) for z in mid]
    rv = [enclosure_fraction(frame[z], RV_BLOOD) for z in mid]
    pairs = [(a, b) for a, b in zip(lv, rv) if np.isfinite(a) and np.isfinite(b)]
    if not pairs:
        return []
    e_lv, e_rv = (float(np.mean(x)) for x in zip(*pairs))
    if e_rv > e_lv:
        return [f"frame {t}: labels look swapped LV<->RV: the myocardium borders {100 * e_rv:.0f}% of the RV "
                f"label but only {100 * e_lv:.0f}% of the LV label on the mid-ventricular slices {mid.tolist()}"]
    return []


def empty_ends(frame: np.ndarray, t: int, geom: Geometry, th: QCThresholds) -> list[str]:
    """Criterion 6: the LV ends abruptly at a large cross-section next to an empty slice (apex or base)."""
    area = ((frame == LV_BLOOD) | (frame == LV_MYO)).sum(axis=(1, 2))
    present = np.flatnonzero(area >= _px(th.presence_mm2, geom))
    if present.size == 0:
        return []
    zmin, zmax, big = int(present.min()), int(present.max()), th.edge_fraction * float(area.max())
    nz, reasons = frame.shape[0], []
    for z_end, z_out, where in ((zmin, zmin - 1, "base"), (zmax, zmax + 1, "apex")):
        if 0 <= z_out < nz and not frame[z_out].any() and area[z_end] >= big:
            reasons.append(f"frame {t}: empty {where}: nothing segmented on slice {z_out} next to slice {z_end}, "
                           f"whose LV is {100 * area[z_end] / area.max():.0f}% of its largest cross-section "
                           f"(>= {100 * th.edge_fraction:.0f}%)")
    return reasons


def volume_curve(seg: np.ndarray, label: int, name: str, th: QCThresholds) -> list[str]:
    """Criterion 8 for one blood pool: the volume curve over the frames must be one contracting cycle."""
    v = (seg == label).sum(axis=(1, 2, 3)).astype(float)
    if len(v) < th.min_frames_cycle or v.max() == 0:
        return []
    change = (v.max() - v.min()) / v.max()
    if change < th.min_volume_change:
        return [f"{name} volume changes by only {100 * change:.1f}% over the {len(v)} frames "
                f"(< {100 * th.min_volume_change:.0f}%): not a contracting cardiac cycle"]
    power = np.abs(np.fft.rfft(v - v.mean()))[1:] ** 2
    share = power / power.sum()
    k = int(np.argmax(power)) + 1
    if k != 1:
        return [f"{name} volume curve is not one cardiac cycle: its harmonic {k} (k cycles per series) holds "
                f"{100 * share[k - 1]:.0f}% of its variation, the first (one cycle) {100 * share[0]:.0f}%"]
    return []


def lost_in_frames(seg: np.ndarray, zc: int, geom: Geometry, th: QCThresholds) -> list[str]:
    """Criterion 9 (and Bai et al.'s per-frame LV check): every structure on the centre slice in every frame."""
    pres = _px(th.presence_mm2, geom)
    reasons = []
    for c in (LV_BLOOD, LV_MYO, RV_BLOOD):
        lost = np.flatnonzero((seg[:, zc] == c).sum(axis=(1, 2)) < pres)
        if lost.size:
            reasons.append(f"no {_NAMES[c]} on the mid-ventricular slice {zc} in frame(s) {lost.tolist()}")
    return reasons


def open_in_frames(seg: np.ndarray, mid: np.ndarray, ed: int, th: QCThresholds) -> list[str]:
    """Criterion 7: criterion 4 on the ED mid-ventricular slices in every other frame."""
    bad = sorted({t for t in range(seg.shape[0]) if t != ed for z in mid
                  if enclosure_fraction(seg[t, z]) < th.min_enclosure})  # NaN (no LV) compares False
    if not bad:
        return []
    return [f"myocardium does not close (surrounds < {100 * th.min_enclosure:.0f}% of the LV blood pool border) on "
            f"the mid-ventricular slices {mid.tolist()} in frame(s) {bad}"]


def qc_case(
    labels: np.ndarray, geom: Geometry, kind: str, thresholds: QCThresholds | None = None, ed: str = "max"
) -> tuple[bool, str]:
    """Quality-control one segmented series.

    Parameters
    ----------
    labels: uint8 label maps ``(nt, nz, ny, nx)`` in our convention (slice 0 = base).
    geom: the series geometry (``dx``, ``dy`` in mm scale the area thresholds).
    kind: ``"cine"`` (criteria 1-6 at ED, 7-9 over the frames) or ``"mapping"`` (criteria 1-5 on
        every label frame).
    thresholds: QC thresholds (default :class:`QCThresholds`).
    ed: how the ED frame is chosen (``"first"`` or ``"max"``), the quantification's rule: the frame comes from
        :func:`cardiomm.quantify.phases.cardiac_phases`, the one place that chooses ED, so QC checks the frame
        the phenotypes are read at. The workflow passes the config's ``quantify.ed``.

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
        from cardiomm.quantify.phases import cardiac_phases

        ed_frame = cardiac_phases(seg, geom, ed).ed_frame
        frame_reasons, zc, mid = _check_frame(seg[ed_frame], ed_frame, geom, kind, th)
        frame_reasons += swapped_labels(seg[ed_frame], mid, ed_frame) + empty_ends(seg[ed_frame], ed_frame, geom, th)
        reasons += [f"ED {r}" for r in frame_reasons]
        if zc is not None:
            reasons += lost_in_frames(seg, zc, geom, th) + open_in_frames(seg, mid, ed_frame, th)
        reasons += volume_curve(seg, LV_BLOOD, "LV blood pool", th) + volume_curve(seg, RV_BLOOD, "RV blood pool", th)
    else:
        for t in range(seg.shape[0]):
            frame_reasons, _, mid = _check_frame(seg[t], t, geom, kind, th)
            reasons += frame_reasons + swapped_labels(seg[t], mid, t)
    return (not reasons), "; ".join(reasons)
