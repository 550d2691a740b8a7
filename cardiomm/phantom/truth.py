"""The analytic heart's wall thickness, the check of the wall thickness measurement.

The phantom's ``WT`` truth is the measurement's own code on the true ED labels
(:func:`cardiomm.phantom.generate._truth_rows`, issue 30): with papillary muscles and trabeculae labelled
myocardium the measured wall includes those attached to it, which the analytic compact wall does not. What is
here checks the measurement code itself, under ``papillary_label: blood`` (tests/test_truth_recovery.py).

Wall thickness: the measurement (:mod:`cardiomm.quantify.wall_thickness`, UK Biobank's method) is
the arc-length weighted mean, over the endocardial contours of the measured ED slices, of the distance from
each endocardial point to the nearest epicardial point. The truth is the same quantity on the analytic
heart: for every slice that the measurement measures (:func:`cardiomm.quantify.aha.model_slices` of the
voxelised ED labels), points evenly spaced on the analytic endocardial circle, the distance of each to the
analytic epicardium ``r_endo + wall * g(theta)`` (densely sampled), and each slice weighted by its endocardial
perimeter. Before issue 18 this averaged the *radial* thickness with every slice weighted equally, which
is not what is measured (a bias of -0.2 to -0.8 mm against the measurement).
"""

from __future__ import annotations

import numpy as np

from cardiomm.phantom import anatomy
from cardiomm.quantify.aha import model_slices

N_ENDO = 720
N_EPI = 2880


def slice_wall_thickness(h: anatomy.HeartSpec, z: float, f: float = 0.0) -> tuple[float, float]:
    """Analytic ``(mean nearest-point thickness mm, endocardial perimeter mm)`` of the slice at depth ``z``.

    Returns ``(nan, 0)`` where the slice has no cavity or no wall.
    """
    r_endo, r_epi, _, _ = anatomy.slice_radii(h, z, f)
    if not (r_endo > 0 and r_epi > r_endo):
        return float("nan"), 0.0
    s = anatomy.lv_state(h, f)
    depth = (z - s.z_base) / max(s.l_endo, 1e-6)
    wall = r_epi - r_endo
    th = np.linspace(-np.pi, np.pi, N_ENDO, endpoint=False)
    ph = np.linspace(-np.pi, np.pi, N_EPI, endpoint=False)
    endo = r_endo * np.stack([np.cos(th), np.sin(th)], axis=1)
    rho = r_endo + wall * anatomy._wall_profile(h, ph, depth)
    epi = rho[:, None] * np.stack([np.cos(ph), np.sin(ph)], axis=1)
    d = np.sqrt(((endo[:, None, :] - epi[None, :, :]) ** 2).sum(-1)).min(axis=1)
    return float(d.mean()), float(2 * np.pi * r_endo)


def wall_thickness_truth(h: anatomy.HeartSpec, z_slices: np.ndarray, labels_ed: np.ndarray) -> float:
    """True ``WT`` (mm): perimeter-weighted mean nearest-point thickness over the slices the measurement uses.

    Parameters
    ----------
    h: the heart.
    z_slices: ``(nz,)`` depth of each slice centre, mm.
    labels_ed: voxelised ED labels ``(nz, ny, nx)`` (decide which slices are measured).
    """
    use = model_slices(labels_ed)
    num = den = 0.0
    for z, ok in zip(np.asarray(z_slices, dtype=float), use, strict=True):
        if not ok:
            continue
        t, w = slice_wall_thickness(h, float(z))
        if w > 0:
            num, den = num + t * w, den + w
    return num / den if den > 0 else float("nan")
