"""SENSE baseline as the field runs it: ESPIRiT maps from the ACS, then Tikhonov-regularised CG-SENSE (SigPy).

Every 2D frame is solved with the maps of its slice (:mod:`cardiomm.recon.classical.espirit`)::

    min_x 1/2 || P F S x - y ||_2^2 + lamda/2 || x ||_2^2

with ``A = P F S`` the one SENSE operator (:func:`cardiomm.physics.sense.sense_linop` of one frame: ``P`` the
frame's mask, ``F`` the centred orthonormal FFT, ``S`` the maps), composed as :class:`sigpy.mri.app.SenseRecon`
composes it, and solved with SigPy's conjugate gradients (:class:`sigpy.app.LinearLeastSquares`), so the iterates
are SenseRecon's. Because the maps have unit RSS, ``|x|`` is on the scale of the RSS reference, so PSNR/SSIM
against the RSS of the fully sampled k-space are meaningful. The problem is linear in ``y``, so ``lamda`` is
independent of the data scale (the operator has norm <= 1). SigPy runs on the CPU here (no CuPy), whatever
:func:`cardiomm.device.get_device` says. With ``engine: bart``: ``pics -l2`` (:mod:`cardiomm.recon.classical.bart`).
"""

from __future__ import annotations

import numpy as np
import sigpy as sp

from cardiomm.acquisition import Acquisition
from cardiomm.physics.sense import sense_linop
from cardiomm.recon.classical.series import ClassicalSolver, CSParams, recon_series


def sense_frame(
    y: np.ndarray, maps: np.ndarray, mask: np.ndarray, lamda: float = 0.01, max_iter: int = 30
) -> np.ndarray:
    """CG-SENSE of one 2D frame.

    Parameters
    ----------
    y: complex ``(nc, ny, nx)`` k-space of the frame (values where ``mask`` is 0 are ignored).
    maps: complex ``(nc, ny, nx)`` sensitivity maps (e.g. from :func:`cardiomm.recon.classical.espirit.espirit_maps`).
    mask: ``(ny, nx)`` sampling mask of the frame.
    lamda: Tikhonov weight.
    max_iter: conjugate-gradient iterations.

    Returns
    -------
    complex64 ``(ny, nx)`` image.
    """
    weights = (np.asarray(mask) != 0).astype(np.float32)
    y = (np.asarray(y) * weights).astype(np.complex64)
    A = sense_linop(maps, weights)
    x = sp.app.LinearLeastSquares(A, y * weights**0.5, lamda=lamda, max_iter=max_iter, show_pbar=False).run()
    return np.asarray(x).astype(np.complex64)


def sense_slice(y: np.ndarray, maps: np.ndarray, mask: np.ndarray, lamda: float, lamda_lowrank: float | None,
                max_iter: int, periodic: bool) -> np.ndarray:
    """CG-SENSE of every frame of one slice, frame by frame (:data:`~cardiomm.recon.classical.series.SliceSolver`;
    ``lamda_lowrank`` and ``periodic`` are not used): complex ``(nt, nc, ny, nx)`` -> complex64 ``(nt, ny, nx)``."""
    return np.stack([sense_frame(y[t], maps, mask[t], lamda=lamda, max_iter=max_iter) for t in range(len(y))])


#: the registry entry of ``sense`` (BART: ``pics -l2 -r lamda``, conjugate gradients)
SENSE = ClassicalSolver(sense_slice, pics="-l2 -r {lamda}")


def sense_recon_series(acq: Acquisition, lamda: float = 0.01, max_iter: int = 30) -> np.ndarray:
    """CG-SENSE reconstruction of a whole series with per-slice ESPIRiT maps
    (:func:`cardiomm.recon.classical.series.recon_series` with :data:`SENSE`).

    Parameters
    ----------
    acq: the validated acquisition (:class:`cardiomm.acquisition.Acquisition`): k-space
        ``(nt, nz, nc, ny, nx)``, its mask and ACS region (calibration square up to ``acq.acs_width``).
    lamda: Tikhonov weight (relative to an operator of norm <= 1, independent of the data scale).
    max_iter: conjugate-gradient iterations per frame.

    Returns
    -------
    float32 ``(nt, nz, ny, nx)`` magnitude, on the scale of the RSS reference.
    """
    return recon_series(SENSE, acq, CSParams(lamda=lamda, max_iter=max_iter))
