"""All 11 cine phenotypes of one segmentation, each with the reason it must not be trusted ("" if none).

One call, one choice of ED/ES (:mod:`cardiomm.quantify.phases`) for the volumes, the LV mass and the wall
thickness (measured on the configured ED frame, not frame 0). A flagged value goes to the tables with
``qc_pass = False`` and its reason; nothing implausible passes silently.
"""

from __future__ import annotations

import warnings

import numpy as np

from cardiomm.conventions import PHENOTYPES
from cardiomm.io.nifti import Geometry
from cardiomm.quantify.phases import cardiac_phases
from cardiomm.quantify.volumes import VOLUME_PHENOTYPES, ventricular_phenotypes_flagged
from cardiomm.quantify.wall_thickness import wall_thickness_details


def cine_phenotypes(
    labels: np.ndarray, geom: Geometry, ed: str = "first", heart_rate_bpm: float | None = None
) -> tuple[dict[str, tuple[float, str]], list[str]]:
    """``({indicator: (value, reason)}, notes)`` for the 11 phenotypes of ``PHENOTYPES``.

    Parameters
    ----------
    labels: cine labels ``(nt, nz, ny, nx)``.
    geom: voxel geometry (``dt`` for the heart rate when ``heart_rate_bpm`` is None).
    ed: ``"first"`` or ``"max"`` (:mod:`cardiomm.quantify.phases`).

    Returns
    -------
    Per phenotype, value NaN with a reason where it cannot be computed, or a finite value with a non-empty
    reason where it is computed but flagged (a ventricle lost in a frame the value needs, a cine that may not
    start at ED). ``notes``: what the caller should log without flagging: the ED / ES frames, WT slices not
    measured (apical caps) and open rings measured as UK Biobank does. Never raises on a bad segmentation: one
    without an LV at ED gives NaN and the reason for every phenotype.
    """
    out: dict[str, tuple[float, str]] = {}
    try:
        vals, flags = ventricular_phenotypes_flagged(labels, geom, heart_rate_bpm, ed)
        ph = cardiac_phases(labels, geom, ed)
    except ValueError as err:
        return {k: (float("nan"), str(err)) for k in PHENOTYPES}, []
    notes = [f"ED frame {ph.ed_frame}, ES frame {ph.es_frame}", *ph.notes]
    for k in VOLUME_PHENOTYPES:
        v = vals[k]
        why = flags[k] or ("" if np.isfinite(v) else f"{k} not computable from the segmentation")
        out[k] = (v, why)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wt = wall_thickness_details(np.asarray(labels)[ph.ed_frame], geom)
    except ValueError as err:
        out["WT"] = (float("nan"), str(err))
    else:
        why = [str(w.message) for w in caught] if not np.isfinite(wt.global_mm) else []
        if not np.isfinite(wt.global_mm) and not why:
            why.append("WT not computable from the segmentation")
        if ph.ed_mismatch:
            why.append(ph.notes[-1])
        out["WT"] = (wt.global_mm, "; ".join(why))
        if wt.skipped:
            notes.append("WT slices not measured: " + "; ".join(wt.skipped.values()))
        if wt.open_ring:
            notes.append(f"WT measured on open myocardial rings (as UK Biobank) in slice(s) {list(wt.open_ring)}")
        notes += [str(w.message) for w in caught if np.isfinite(wt.global_mm)]
    return {k: out[k] for k in PHENOTYPES}, notes
