"""Compressed sensing and k-t reconstruction as the field runs them, on SigPy's operators and solvers.

Two regularised SENSE problems, solved per slice with the ESPIRiT maps of
:mod:`cardiomm.recon.classical.espirit` (the same maps as the SENSE baseline; one calibration per slice, shared by
all its frames), the same masks and ACS, and evaluated against the same RSS reference:

``cs`` (spatial compressed sensing, Lustig et al. 2007), every frame on its own::

    min_x 1/2 || P_t F S x_t - y_t ||_2^2 + lamda || W_d x_t ||_1        (W: Daubechies-4 wavelet over (y, x))

where ``W_d`` are the detail (high-pass) coefficients only, solved with SigPy's accelerated proximal gradient
(FISTA; :class:`sigpy.app.LinearLeastSquares`, ``solver="GradientMethod"``). :class:`sigpy.mri.app.L1WaveletRecon`
also thresholds the coarsest approximation coefficients, i.e. it penalises the image's low-resolution content
itself, which sparse-MRI practice (Lustig's code, BART's ``pics -R W``) leaves alone. The weighted l1 here is
SigPy's ``L1Reg`` with a weight array (0 on the approximation band), the same FISTA; with
``penalise_approximation=True`` it is exactly ``L1WaveletRecon`` (the test checks it). ``max_iter`` is part of
the method: on a noiseless phantom the PSNR peaks and then falls as FISTA approaches the (biased) minimiser,
so ``lamda`` is tuned at the configured iteration count. The frames
of a slice are stacked into one separable problem (same iterates as frame by frame, vectorised).

``kttv`` (k-t reconstruction with temporal total variation, e.g. Feng et al. 2014's k-t SPARSE-SENSE family and
BART ``pics -R T:1024``), all frames of a slice jointly::

    min_X 1/2 sum_t || P_t F S x_t - y_t ||_2^2 + lamda || D_t X ||_1     (D_t: finite difference along frames)

solved with SigPy's primal-dual hybrid gradient (:class:`sigpy.app.LinearLeastSquares`,
``solver="PrimalDualHybridGradient"``). For cine the difference is circular (the cardiac cycle is periodic);
for a mapping series (weightings ordered by inversion/echo/spin-lock time) it is not.

A third k-t method, ``lps`` (low-rank plus sparse, Otazo et al. 2015), is in :mod:`cardiomm.recon.classical.lps`.
All three fit the same scaled problem (:func:`cardiomm.recon.classical.problem.scaled_problem`: the one SENSE
operator :func:`cardiomm.physics.sense.sense_linop` and the data in units of the zero-filled image, so ``lamda`` is
relative to an image of unit magnitude) and are :class:`~cardiomm.recon.classical.series.ClassicalSolver` entries
of the method registry (:data:`CS`, :data:`KTTV`).
"""

from __future__ import annotations

import numpy as np
import pywt
import sigpy as sp

from cardiomm.recon.classical.bart import TIME_DIM
from cardiomm.recon.classical.problem import scaled_problem
from cardiomm.recon.classical.series import ClassicalSolver

WAVELET = "db4"
PDHG_TAU = 2.0


def temporal_difference(ishape: tuple[int, ...], periodic: bool) -> sp.linop.Linop:
    """Finite difference along axis 0: ``x_t - x_{t-1}``, circular if ``periodic``, else the ``nt - 1`` inner ones.

    Output shape ``(1, nt, ...)`` (periodic) or ``(1, nt - 1, ...)``; norm <= 2.
    """
    G = sp.linop.FiniteDifference(tuple(ishape), axes=(0,))
    if periodic:
        return G
    return sp.linop.Slice(G.oshape, (slice(None), slice(1, None))) * G


def detail_weights(ishape: tuple[int, ...], lamda: float, wave_name: str | None = None) -> np.ndarray:
    """``lamda`` on the detail coefficients of :class:`sigpy.linop.Wavelet` over the last two axes, 0 on the
    coarsest approximation band (float32, the wavelet's output shape)."""
    wave_name = wave_name or WAVELET
    W = sp.linop.Wavelet(tuple(ishape), axes=(-2, -1), wave_name=wave_name)
    zshape = [((i + 1) // 2) * 2 for i in ishape]  # sigpy's fwt pads odd sizes to even ones
    coeffs = pywt.wavedecn(np.zeros(zshape, np.float32), wave_name, mode="zero", axes=(-2, -1))
    _, slices = pywt.coeffs_to_array(coeffs, axes=(-2, -1))
    w = np.full(W.oshape, lamda, dtype=np.float32)
    w[slices[0]] = 0.0
    return w


def cs_slice(y: np.ndarray, maps: np.ndarray, mask: np.ndarray, lamda: float, max_iter: int,
             penalise_approximation: bool = False) -> np.ndarray:
    """l1-wavelet SENSE of every frame of one slice (FISTA, SigPy).

    Parameters
    ----------
    y: complex ``(nt, nc, ny, nx)`` undersampled k-space of the slice.
    maps: complex ``(nc, ny, nx)`` maps; mask: ``(nt, ny, nx)``.
    lamda: l1 weight relative to a unit-magnitude image; max_iter: FISTA iterations.
    penalise_approximation: also threshold the coarsest approximation band (SigPy's ``L1WaveletRecon``).

    Returns
    -------
    complex64 ``(nt, ny, nx)`` images on the RSS reference's scale.
    """
    A, y, s = scaled_problem(y, maps, mask)
    W = sp.linop.Wavelet(A.ishape, axes=(-2, -1), wave_name=WAVELET)
    weight = lamda if penalise_approximation else detail_weights(A.ishape, lamda)
    proxg = sp.prox.UnitaryTransform(sp.prox.L1Reg(W.oshape, weight), W)
    # ||A|| <= 1, so the step 1 is admissible and no power iteration is needed
    x = sp.app.LinearLeastSquares(A, y, x=A.H(y), proxg=proxg, solver="GradientMethod", alpha=1.0,
                                  max_iter=max_iter, show_pbar=False).run()
    return (np.asarray(x) * np.float32(s)).astype(np.complex64)


def kttv_slice(y: np.ndarray, maps: np.ndarray, mask: np.ndarray, lamda: float, max_iter: int,
               periodic: bool = True) -> np.ndarray:
    """Temporal-TV SENSE of all frames of one slice jointly (primal-dual hybrid gradient, SigPy).

    Parameters
    ----------
    y: complex ``(nt, nc, ny, nx)`` undersampled k-space; maps: ``(nc, ny, nx)``; mask: ``(nt, ny, nx)``.
    lamda: l1 weight of the temporal differences, relative to a unit-magnitude image.
    max_iter: PDHG iterations. periodic: circular difference (cine) or not (mapping series).

    Returns
    -------
    complex64 ``(nt, ny, nx)`` images on the RSS reference's scale.
    """
    A, y, s = scaled_problem(y, maps, mask)
    G = temporal_difference(A.ishape, periodic)
    # PDHG on K = [A; G] needs tau * sigma * ||K||^2 <= 1, and ||K||^2 <= ||A||^2 + ||G||^2 <= 1 + 4: sigma =
    # 1 / (5 tau). The balance tau = PDHG_TAU = 2 (large primal steps) was measured against others (tau 1-10, and
    # block-diagonal dual steps sigma_A, sigma_G with tau (sigma_A + 4 sigma_G) = 1), and SigPy's ADMM (rho 0.05-3,
    # 3-10 CG steps): none reached a lower objective per CPU second on a ktRadial24 cine slice. What the method
    # needed was iterations: at 40 it was 1.2-3.3 dB below BART's pics (same maps, same open-TV objective); at 100
    # (the default) within 0.35 dB on every mask (benchmarks/results/kttv_convergence.md). It is still not the
    # minimiser (which scores lower in PSNR at 24x): max_iter is part of the method, as for cs.
    x = sp.app.LinearLeastSquares(A, y, x=A.H(y), proxg=sp.prox.L1Reg(G.oshape, lamda), G=G,
                                  solver="PrimalDualHybridGradient", tau=PDHG_TAU, sigma=1.0 / (5.0 * PDHG_TAU),
                                  max_iter=max_iter, show_pbar=False).run()
    return (np.asarray(x) * np.float32(s)).astype(np.complex64)


def _cs(y: np.ndarray, maps: np.ndarray, mask: np.ndarray, lamda: float, lamda_lowrank: float | None,
        max_iter: int, periodic: bool) -> np.ndarray:
    return cs_slice(y, maps, mask, lamda, max_iter)


def _kttv(y: np.ndarray, maps: np.ndarray, mask: np.ndarray, lamda: float, lamda_lowrank: float | None,
          max_iter: int, periodic: bool) -> np.ndarray:
    return kttv_slice(y, maps, mask, lamda, max_iter, periodic=periodic)


#: the registry entries of ``cs`` (BART: ``pics -R W``, l1-wavelet over the two image axes) and ``kttv`` (BART:
#: ``pics -R T`` along BART's time dimension 10, :mod:`cardiomm.recon.classical.bart`)
CS = ClassicalSolver(_cs, pics="-R W:3:0:{lamda}")
KTTV = ClassicalSolver(_kttv, pics=f"-R T:{1 << TIME_DIM}:0:{{lamda}}")
