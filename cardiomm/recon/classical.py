"""A whole series with one of the iterative classical methods (``sense``, ``cs``, ``kttv``, ``lps``), on SigPy or
BART: the one place that picks the solver, so that the solvers (:mod:`cardiomm.recon.cs`, :mod:`~cardiomm.recon.lps`,
:mod:`~cardiomm.recon.bart`) import only downward and never each other's dispatcher.
"""

from __future__ import annotations

import numpy as np

from cardiomm.acquisition import Acquisition
from cardiomm.recon.bart import bart_recon_series
from cardiomm.recon.cs import DEFAULTS, CSParams, cs_slice, kttv_slice
from cardiomm.recon.lps import lps_slice
from cardiomm.recon.sense import MIN_CALIB_WIDTH, sense_frame, slice_maps


def recon_series(method: str, acq: Acquisition, params: CSParams, kind: str = "cine") -> np.ndarray:
    """``cs``, ``kttv``, ``lps`` (or ``sense``) reconstruction of a whole series, one ESPIRiT calibration per slice.

    Parameters
    ----------
    method: ``"cs"``, ``"kttv"``, ``"lps"`` (:mod:`cardiomm.recon.lps`) or ``"sense"`` (SigPy:
        :func:`cardiomm.recon.sense.sense_frame` frame by frame, as :func:`cardiomm.recon.sense.sense_recon_series`;
        this entry exists for the BART engine).
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
        raise ValueError("recon_series: lps has no bart engine (see cardiomm.recon.lps)")
    if params.engine == "bart":
        return bart_recon_series(method, k, m, region, lamda, params.max_iter, periodic=kind == "cine", acs=acs)
    nt, nz = k.shape[:2]
    out = np.zeros((nt, nz, *k.shape[-2:]), dtype=np.float32)
    for z in range(nz):
        maps = slice_maps(acq, z)
        if method == "sense":
            x = np.stack([sense_frame(k[t, z], maps, m[t], lamda=lamda, max_iter=params.max_iter) for t in range(nt)])
        elif method == "kttv":
            x = kttv_slice(k[:, z], maps, m, lamda, params.max_iter, periodic=kind == "cine")
        elif method == "lps":
            x = lps_slice(k[:, z], maps, m, lamda, params.lamda_lowrank_for(kind), params.max_iter,
                          periodic=kind == "cine")
        else:
            x = cs_slice(k[:, z], maps, m, lamda, params.max_iter)
        out[:, z] = np.abs(x)
    return out
