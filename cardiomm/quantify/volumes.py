"""Ventricular volumes and function from short-axis cine label maps (UK Biobank conventions).

Conventions follow the UK Biobank cardiac pipeline (Bai et al., J Cardiovasc Magn Reson 2018):

- Volume by disc summation: the number of voxels of a label times the volume one voxel represents,
  ``Geometry.voxel_ml = dx * dy * (thickness + gap) / 1000``; each slice stands for its whole slice
  spacing, so an inter-slice gap is accounted for.
- End-diastole (ED) is the first frame (the cine is ECG-triggered on the R wave) or, on request, the frame
  of maximal LV blood volume. End-systole (ES) is the frame of minimal LV blood volume. The RV uses the
  LV's ES frame, so that both ventricles are read at the same cardiac phase.
- LV mass = ED LV myocardial volume x myocardial density (``MYOCARDIAL_DENSITY_G_PER_ML``).
- Cardiac output = stroke volume x heart rate. When no heart rate is given it is derived from the frame
  interval under the assumption that the cine frames span exactly one cardiac cycle (retrospective
  gating, as in CMRxRecon and UK Biobank cines): ``RR = nt * dt`` and ``HR = 60 / RR``.

Names and units come from :mod:`cardiomm.conventions` (``PHENOTYPES``).
"""

from __future__ import annotations

import math

import numpy as np

from cardiomm.conventions import LABELS, LV_BLOOD, LV_MYO, MYOCARDIAL_DENSITY_G_PER_ML, PHENOTYPES, RV_BLOOD
from cardiomm.io.nifti import Geometry

#: The ten phenotypes computed here (all of ``PHENOTYPES`` except the wall thickness).
VOLUME_PHENOTYPES: tuple[str, ...] = tuple(k for k in PHENOTYPES if k != "WT")
ED_CHOICES = ("first", "max")


def _check_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as an integer ``(nt, nz, ny, nx)`` array or raise a ``ValueError`` saying why."""
    labels = np.asarray(labels)
    if labels.ndim != 4:
        raise ValueError(f"{name}: expected a cine label map of shape (nt, nz, ny, nx), got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        # Labels read from a float NIfTI are accepted only if they hold whole numbers.
        if not np.all(np.isfinite(labels)) or not np.array_equal(labels, np.round(labels)):
            raise ValueError(f"{name}: label values must be integers, got non-integer {labels.dtype} data")
        labels = labels.astype(np.int16)
    unknown = np.setdiff1d(np.unique(labels), list(LABELS.values()))
    if unknown.size:
        raise ValueError(f"{name}: unknown label values {unknown.tolist()}; expected {LABELS}")
    return labels


def volume_curve(labels: np.ndarray, geom: Geometry, label: int) -> np.ndarray:
    """Volume of one label in every frame.

    Parameters
    ----------
    labels: integer label map, shape ``(nt, nz, ny, nx)``.
    geom: voxel geometry; ``geom.voxel_ml`` (dx * dy * slice spacing) is the volume of one voxel.
    label: label value, e.g. ``LV_BLOOD``.

    Returns
    -------
    Volumes in mL, shape ``(nt,)``.
    """
    labels = _check_labels(labels)
    if label not in LABELS.values():
        raise ValueError(f"label: unknown label value {label}; expected one of {sorted(LABELS.values())}")
    counts = np.count_nonzero(labels == label, axis=(1, 2, 3))
    return counts.astype(np.float64) * geom.voxel_ml


def cardiac_phases(lv_curve: np.ndarray, ed: str = "first") -> tuple[int, int]:
    """Pick the ED and ES frames from an LV blood volume curve.

    Parameters
    ----------
    lv_curve: LV blood volume per frame, shape ``(nt,)``, mL.
    ed: ``"first"`` (ED = frame 0) or ``"max"`` (ED = frame of maximal LV volume).

    Returns
    -------
    ``(ed_frame, es_frame)``; ES is the frame of minimal LV volume (first one on ties).
    """
    if ed not in ED_CHOICES:
        raise ValueError(f"ed: expected one of {ED_CHOICES}, got {ed!r}")
    ed_frame = 0 if ed == "first" else int(np.argmax(lv_curve))
    return ed_frame, int(np.argmin(lv_curve))


def _heart_rate(heart_rate_bpm: float | None, geom: Geometry, nt: int) -> float:
    """Heart rate in beats per minute: the given one, else one cardiac cycle over ``nt * dt`` seconds."""
    if heart_rate_bpm is not None:
        if not (math.isfinite(heart_rate_bpm) and heart_rate_bpm > 0):
            raise ValueError(f"heart_rate_bpm: must be a positive finite number, got {heart_rate_bpm}")
        return float(heart_rate_bpm)
    if not (math.isfinite(geom.dt) and geom.dt > 0):
        raise ValueError(
            f"geom.dt: frame interval must be > 0 s to derive the heart rate (got {geom.dt}); "
            "pass heart_rate_bpm or a geometry with the cine frame interval"
        )
    return 60.0 / (geom.dt * nt)


def _ejection_fraction(sv: float, edv: float) -> float:
    """EF in %; NaN (not a number that looks valid) when the ED volume is zero."""
    return 100.0 * sv / edv if edv > 0 else float("nan")


def ventricular_phenotypes(
    labels: np.ndarray, geom: Geometry, heart_rate_bpm: float | None = None, ed: str = "first"
) -> dict[str, float]:
    """The ten volume / function phenotypes of ``PHENOTYPES`` (all but ``WT``).

    Parameters
    ----------
    labels: short-axis cine labels, shape ``(nt, nz, ny, nx)``, values 0 bg, 1 LV blood, 2 LV myo, 3 RV blood.
    geom: voxel geometry (dx, dy in mm; thickness + gap = slice spacing in mm; dt frame interval in s).
    heart_rate_bpm: heart rate; if ``None`` it is ``60 / (geom.dt * nt)``, i.e. the cine frames are assumed to
        cover exactly one cardiac cycle.
    ed: ``"first"``: ED = frame 0; ``"max"``: ED = frame of maximal LV blood volume.

    Returns
    -------
    ``{LVEDV, LVESV, LVSV, LVEF, LVCO, LVM, RVEDV, RVESV, RVSV, RVEF}`` in the units of ``PHENOTYPES``
    (mL, %, L/min, g). RVEF is NaN if there is no RV blood pool at ED.

    Raises
    ------
    ValueError: not a 4D integer label map, a single frame, no LV blood pool at ED, or no usable heart rate.
    """
    labels = _check_labels(labels)
    nt = labels.shape[0]
    if nt < 2:
        raise ValueError(f"labels: a cine with {nt} frame cannot give ED and ES volumes; need nt >= 2")
    lv = volume_curve(labels, geom, LV_BLOOD)
    ed_frame, es_frame = cardiac_phases(lv, ed)
    if lv[ed_frame] <= 0:
        raise ValueError(f"labels: no LV blood pool (label {LV_BLOOD}) at the ED frame {ed_frame}")
    hr = _heart_rate(heart_rate_bpm, geom, nt)
    rv = volume_curve(labels, geom, RV_BLOOD)
    myo_ed = np.count_nonzero(labels[ed_frame] == LV_MYO) * geom.voxel_ml

    lvsv = lv[ed_frame] - lv[es_frame]
    rvsv = rv[ed_frame] - rv[es_frame]
    out = {
        "LVEDV": lv[ed_frame],
        "LVESV": lv[es_frame],
        "LVSV": lvsv,
        "LVEF": _ejection_fraction(lvsv, lv[ed_frame]),
        "LVCO": lvsv * hr / 1000.0,
        "LVM": myo_ed * MYOCARDIAL_DENSITY_G_PER_ML,
        "RVEDV": rv[ed_frame],
        "RVESV": rv[es_frame],
        "RVSV": rvsv,
        "RVEF": _ejection_fraction(rvsv, rv[ed_frame]),
    }
    # Keyed by the names in conventions.PHENOTYPES, so a renamed convention fails loudly here.
    return {k: float(out[k]) for k in VOLUME_PHENOTYPES}
