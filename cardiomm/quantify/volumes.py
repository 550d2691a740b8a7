"""Ventricular volumes and function from short-axis cine label maps (UK Biobank conventions).

Conventions follow the UK Biobank cardiac pipeline (Bai et al., J Cardiovasc Magn Reson 2018):

- Volume by disc summation: the number of voxels of a label times the volume one voxel represents,
  ``Geometry.voxel_ml = dx * dy * (thickness + gap) / 1000``; each slice stands for its whole slice
  spacing, so an inter-slice gap is accounted for.
- End-diastole (ED) and end-systole (ES) come from :mod:`cardiomm.quantify.phases` (the one place that
  chooses them): ED the first frame or, on request, the frame of maximal LV blood volume; ES the frame of
  minimal LV blood volume among the frames where the LV is not lost; the RV is read at the LV's ES frame.
- Nothing implausible passes silently (:func:`ventricular_phenotypes_flagged`): a ventricle absent at ED or
  ES gives NaN with the reason (not RVEDV = 0 mL, RVSV = -120 mL or RVEF = 100%); an LV lost in some frame
  flags every ES-dependent value; a cine that does not seem to start at ED flags every value.
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
from cardiomm.quantify.phases import ED_CHOICES, LOST_FRACTION, ed_es_frames
from cardiomm.quantify.phases import cardiac_phases as _phases

#: The ten phenotypes computed here (all of ``PHENOTYPES`` except the wall thickness).
VOLUME_PHENOTYPES: tuple[str, ...] = tuple(k for k in PHENOTYPES if k != "WT")
#: Indicators read at the ES frame (directly or through ESV).
ES_DEPENDENT: tuple[str, ...] = ("LVESV", "LVSV", "LVEF", "LVCO", "RVESV", "RVSV", "RVEF")
_RV_ALL = ("RVEDV", "RVESV", "RVSV", "RVEF")
_RV_ES = ("RVESV", "RVSV", "RVEF")
assert set(ED_CHOICES) == {"first", "max"}


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
    """ED and ES frames from an LV blood volume curve ``(nt,)`` (mL): :func:`cardiomm.quantify.phases.ed_es_frames`.

    ``ed``: ``"first"`` (ED = frame 0) or ``"max"`` (ED = frame of maximal LV volume); ES is the frame of minimal
    LV volume among the frames where the LV is not lost (first one on ties).
    """
    ed_frame, es_frame, _ = ed_es_frames(lv_curve, ed)
    return ed_frame, es_frame


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


def ventricular_phenotypes_flagged(
    labels: np.ndarray, geom: Geometry, heart_rate_bpm: float | None = None, ed: str = "first"
) -> tuple[dict[str, float], dict[str, str]]:
    """The ten volume / function phenotypes of ``PHENOTYPES`` (all but ``WT``) and, per phenotype, why it must
    not be trusted ("" when nothing was found).

    Parameters
    ----------
    labels: short-axis cine labels, shape ``(nt, nz, ny, nx)``, values 0 bg, 1 LV blood, 2 LV myo, 3 RV blood.
    geom: voxel geometry (dx, dy in mm; thickness + gap = slice spacing in mm; dt frame interval in s).
    heart_rate_bpm: heart rate; if ``None`` it is ``60 / (geom.dt * nt)``, i.e. the cine frames are assumed to
        cover exactly one cardiac cycle.
    ed: ``"first"``: ED = frame 0; ``"max"``: ED = frame of maximal LV blood volume.

    Returns
    -------
    ``(values, flags)``: values ``{LVEDV, LVESV, LVSV, LVEF, LVCO, LVM, RVEDV, RVESV, RVSV, RVEF}`` in the units of
    ``PHENOTYPES`` (mL, %, L/min, g); NaN where a ventricle is absent at the frame a value needs. ``flags`` has
    the same keys; a non-empty string says why the value is NaN or unreliable (see the module docstring).

    Raises
    ------
    ValueError: not a 4D integer label map, a single frame, no LV blood pool at ED, or no usable heart rate.
    """
    labels = _check_labels(labels)
    nt = labels.shape[0]
    if nt < 2:
        raise ValueError(f"labels: a cine with {nt} frame cannot give ED and ES volumes; need nt >= 2")
    ph = _phases(labels, geom, ed)
    lv, rv, ed_frame, es_frame = ph.lv_ml, ph.rv_ml, ph.ed_frame, ph.es_frame
    if lv[ed_frame] <= 0:
        raise ValueError(f"labels: no LV blood pool (label {LV_BLOOD}) at the ED frame {ed_frame}")
    hr = _heart_rate(heart_rate_bpm, geom, nt)
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
    flags: dict[str, list[str]] = {k: [] for k in VOLUME_PHENOTYPES}
    rv_top = float(rv.max())
    if rv_top <= 0:
        for k in _RV_ALL:
            out[k] = float("nan")
            flags[k].append(f"no RV blood pool (label {RV_BLOOD}) in any frame")
    else:
        for frame, name, keys in ((ed_frame, "ED", _RV_ALL), (es_frame, "ES", _RV_ES)):
            if rv[frame] < LOST_FRACTION * rv_top:
                for k in keys:
                    out[k] = float("nan")
                    flags[k].append(f"RV blood pool absent at the {name} frame {frame} ({rv[frame]:.1f} mL, "
                                    f"< {LOST_FRACTION:.0%} of its largest volume {rv_top:.1f} mL)")  # fmt: skip
    if ph.lv_lost:
        for k in ES_DEPENDENT:
            flags[k].append(ph.notes[0])
    if ph.ed_mismatch:
        for k in VOLUME_PHENOTYPES:
            flags[k].append(ph.notes[-1])
    # Keyed by the names in conventions.PHENOTYPES, so a renamed convention fails loudly here.
    return {k: float(out[k]) for k in VOLUME_PHENOTYPES}, {k: "; ".join(dict.fromkeys(flags[k])) for k in flags}


def ventricular_phenotypes(
    labels: np.ndarray, geom: Geometry, heart_rate_bpm: float | None = None, ed: str = "first"
) -> dict[str, float]:
    """The values of :func:`ventricular_phenotypes_flagged` without the flags (same arguments and errors).

    Use the flagged form wherever a value reaches a table: a value that is NaN here has its reason there.
    """
    return ventricular_phenotypes_flagged(labels, geom, heart_rate_bpm, ed)[0]
