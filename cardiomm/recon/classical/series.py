"""A whole series with one of the iterative classical methods (``sense``, ``cs``, ``kttv``, ``lps``), on SigPy or
BART: the one place that picks the solver, so that the solvers (:mod:`cardiomm.recon.classical.cs`,
:mod:`~cardiomm.recon.classical.lps`,
:mod:`~cardiomm.recon.classical.bart`) import only downward and never each other's dispatcher.
"""

from __future__ import annotations

import numpy as np

from cardiomm.acquisition import Acquisition
from cardiomm.recon.classical.bart import bart_recon_series
from cardiomm.recon.classical.cs import DEFAULTS, CSParams, cs_slice, kttv_slice
from cardiomm.recon.classical.lps import lps_slice
from cardiomm.recon.classical.sense import MIN_CALIB_WIDTH, sense_frame, slice_maps


def slice_recon(method: str, y: np.ndarray, maps: np.ndarray, mask: np.ndarray, lamda: float,
                lamda_lowrank: float | None, max_iter: int, periodic: bool) -> np.ndarray:
    """One slice, all frames, with one SigPy classical method: the single dispatch on the method's name.

    ``y`` complex ``(nt, nc, ny, nx)``, ``maps`` ``(nc, ny, nx)``, ``mask`` ``(nt, ny, nx)`` bool; ``lamda_lowrank``
    for ``lps`` only; ``periodic``: cine (circular temporal transforms) or mapping. Returns complex ``(nt, ny, nx)``.
    """
    if method == "sense":
        return np.stack([sense_frame(y[t], maps, mask[t], lamda=lamda, max_iter=max_iter) for t in range(len(y))])
    if method == "kttv":
        return kttv_slice(y, maps, mask, lamda, max_iter, periodic=periodic)
    if method == "lps":
        if lamda_lowrank is None:
            raise ValueError("slice_recon: lps needs lamda_lowrank")
        return lps_slice(y, maps, mask, lamda, lamda_lowrank, max_iter, periodic=periodic)
    if method == "cs":
        return cs_slice(y, maps, mask, lamda, max_iter)
    raise ValueError(f"slice_recon: unknown method {method!r}; known: sense, cs, kttv, lps")


def recon_series(method: str, acq: Acquisition, params: CSParams, kind: str = "cine") -> np.ndarray:
    """``cs``, ``kttv``, ``lps`` (or ``sense``) reconstruction of a whole series, one ESPIRiT calibration per slice.

    Parameters
    ----------
    method: ``"cs"``, ``"kttv"``, ``"lps"`` (:mod:`cardiomm.recon.classical.lps`) or ``"sense"`` (SigPy:
        :func:`cardiomm.recon.classical.sense.sense_frame` frame by frame, as
        :func:`cardiomm.recon.classical.sense.sense_recon_series`; this entry exists for the BART engine).
    acq: the validated acquisition (:class:`cardiomm.acquisition.Acquisition`): k-space ``(nt, nz, nc, ny, nx)``,
        mask, ACS region and width.
    params: :class:`CSParams`; kind: ``"cine"`` or ``"mapping"`` (temporal difference circular or not, and which
        ``lamda``).

    Returns
    -------
    float32 ``(nt, nz, ny, nx)`` magnitude on the scale of the RSS reference.
    """
    if method not in DEFAULTS:
        raise ValueError(f"recon_series: unknown method {method!r}; known: {sorted(DEFAULTS)}")
    if kind not in ("cine", "mapping"):
        raise ValueError(f"recon_series: kind must be 'cine' or 'mapping', got {kind!r}")
    k, m, region, acs = acq.kspace, acq.mask != 0, acq.acs, acq.acs_width
    if acs < MIN_CALIB_WIDTH:
        raise ValueError(f"recon_series: {acq.source}: acs={acs}, ESPIRiT needs at least {MIN_CALIB_WIDTH} "
                         "fully sampled")
    lamda = params.lamda_for(kind)
    if method == "lps" and params.engine != "sigpy":
        raise ValueError("recon_series: lps has no bart engine (see cardiomm.recon.classical.lps)")
    if params.engine == "bart":
        return bart_recon_series(method, k, m, region, lamda, params.max_iter, periodic=kind == "cine", acs=acs)
    nt, nz = k.shape[:2]
    out = np.zeros((nt, nz, *k.shape[-2:]), dtype=np.float32)
    for z in range(nz):
        out[:, z] = np.abs(slice_recon(method, k[:, z], slice_maps(acq, z), m, lamda,
                                       params.lamda_lowrank_for(kind) if method == "lps" else None,
                                       params.max_iter, periodic=kind == "cine"))
    return out
