"""End-diastole and end-systole of a short-axis cine: the one place that chooses them.

Volumes, LV mass and wall thickness (:mod:`cardiomm.quantify.cine`) and, through
:func:`cardiac_phases`, segmentation QC read the same frames.

Rules
-----
- ED: ``ed="first"``: frame 0 (the cine is ECG-triggered on the R wave); ``ed="max"``: the frame of maximal
  LV blood volume.
- A ventricle is *lost* in a frame when its blood volume is below :data:`LOST_FRACTION` of its largest
  volume over the cine (an EF above 90% is not physiological; a frame the segmenter missed looks exactly like
  that). Lost LV frames are excluded from the ES search, so a missing frame is never read as ES = 0 mL.
- ES: the frame of minimal LV blood volume among the frames where the LV is not lost (first one on ties).
  The RV is read at the LV's ES frame, so that both ventricles are read at the same cardiac phase.
- With ``ed="first"``, an LV volume at frame 0 more than :data:`ED_MISMATCH_FRACTION` below the largest one
  means that the cine probably does not start at ED: it is reported in ``notes`` (and the callers flag every
  ED-dependent value), never silently accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardiomm.conventions import LV_BLOOD, RV_BLOOD
from cardiomm.io.nifti import Geometry

ED_CHOICES = ("first", "max")
#: Below this fraction of its largest volume a ventricle counts as lost (missing) in a frame.
LOST_FRACTION = 0.10
#: With ``ed="first"``, frame 0 this much below the largest LV volume means the cine may not start at ED.
ED_MISMATCH_FRACTION = 0.10


@dataclass(frozen=True)
class CardiacPhases:
    """ED / ES frames of one cine and what was found on the way.

    Attributes
    ----------
    ed_frame, es_frame: frame indices.
    lv_ml, rv_ml: ``(nt,)`` blood volumes, mL.
    lv_lost, rv_lost: frames where each ventricle is lost (:data:`LOST_FRACTION`).
    ed_mismatch: ``ed="first"`` but frame 0 is not (close to) the largest LV volume.
    notes: human-readable sentences for each finding (empty when nothing was found).
    """

    ed_frame: int
    es_frame: int
    lv_ml: np.ndarray
    rv_ml: np.ndarray
    lv_lost: tuple[int, ...]
    rv_lost: tuple[int, ...]
    ed_mismatch: bool
    notes: tuple[str, ...]


def lost_frames(curve: np.ndarray) -> tuple[int, ...]:
    """Frames of a volume curve ``(nt,)`` below :data:`LOST_FRACTION` of its maximum (all if the maximum is 0)."""
    curve = np.asarray(curve, dtype=np.float64)
    top = float(curve.max()) if curve.size else 0.0
    return tuple(int(t) for t in np.flatnonzero(curve < LOST_FRACTION * top)) if top > 0 else tuple(range(curve.size))


def ed_es_frames(lv_ml: np.ndarray, ed: str = "first") -> tuple[int, int, tuple[int, ...]]:
    """ED and ES frames from an LV blood volume curve ``(nt,)``: ``(ed_frame, es_frame, lv_lost)``.

    ES is the minimum over the frames where the LV is not lost; if every frame but ED is lost, ES = ED.
    """
    if ed not in ED_CHOICES:
        raise ValueError(f"ed: expected one of {ED_CHOICES}, got {ed!r}")
    lv = np.asarray(lv_ml, dtype=np.float64)
    if lv.ndim != 1 or lv.size == 0:
        raise ValueError(f"lv_ml: expected a volume curve of shape (nt,), got shape {lv.shape}")
    ed_frame = 0 if ed == "first" else int(np.argmax(lv))
    lost = lost_frames(lv)
    usable = np.array([t for t in range(lv.size) if t not in lost], dtype=int)
    es_frame = int(usable[np.argmin(lv[usable])]) if usable.size else ed_frame
    return ed_frame, es_frame, lost


def cardiac_phases(labels: np.ndarray, geom: Geometry, ed: str = "first") -> CardiacPhases:
    """ED / ES of a cine label map ``(nt, nz, ny, nx)`` with everything a caller needs to flag its values.

    Parameters
    ----------
    labels: integer labels (0 bg, 1 LV blood, 2 LV myo, 3 RV blood), shape ``(nt, nz, ny, nx)``.
    geom: voxel geometry (``voxel_ml``).
    ed: ``"first"`` or ``"max"`` (see the module docstring).
    """
    labels = np.asarray(labels)
    if labels.ndim != 4:
        raise ValueError(f"labels: expected a cine label map of shape (nt, nz, ny, nx), got shape {labels.shape}")
    lv = np.count_nonzero(labels == LV_BLOOD, axis=(1, 2, 3)) * geom.voxel_ml
    rv = np.count_nonzero(labels == RV_BLOOD, axis=(1, 2, 3)) * geom.voxel_ml
    ed_frame, es_frame, lv_lost = ed_es_frames(lv, ed)
    rv_lost = lost_frames(rv)
    notes = []
    if lv_lost:
        notes.append(f"LV blood pool lost in frame(s) {list(lv_lost)} (< {LOST_FRACTION:.0%} of the largest LV "
                     f"volume {lv.max():.1f} mL); excluded from the ES search")  # fmt: skip
    if rv_lost:
        notes.append(f"RV blood pool lost in frame(s) {list(rv_lost)} (< {LOST_FRACTION:.0%} of the largest RV "
                     f"volume {rv.max():.1f} mL)")  # fmt: skip
    mismatch = bool(ed == "first" and lv.max() > 0 and lv[0] < (1.0 - ED_MISMATCH_FRACTION) * lv.max())
    if mismatch:
        k = int(np.argmax(lv))
        notes.append(f"the cine may not start at end-diastole: LV volume {lv[0]:.1f} mL at frame 0 is "
                     f"{100 * (1 - lv[0] / lv.max()):.0f}% below the largest, {lv.max():.1f} mL at frame {k} "
                     "(quantify.ed is 'first')")  # fmt: skip
    return CardiacPhases(ed_frame, es_frame, lv, rv, lv_lost, rv_lost, mismatch, tuple(notes))
