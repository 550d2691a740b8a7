"""Low-rank plus sparse (L+S) reconstruction of a dynamic series (Otazo, Candes and Sodickson 2015, MRM 73:1125).

All frames of one slice are the sum of a low-rank part ``L`` (the background: static anatomy and slow, global
change) and a part ``S`` that is sparse in a temporal transform ``T`` (the innovation: wall motion, blood, a
relaxation curve's deviation from the common ones)::

    min_{L, S} 1/2 sum_t || P_t F C (L_t + S_t) - y_t ||_2^2 + lamda_L || L ||_* + lamda || T S ||_1

* ``|| L ||_*`` is the nuclear norm of the Casorati matrix (pixels x frames) of ``L``; its proximal step is
  singular value thresholding (:class:`NuclearNormReg`, an exact SVD of the ``(nt, ny * nx)`` matrix).
* ``T`` is the orthonormal temporal Fourier transform for cine (the cardiac cycle is periodic: Otazo et al.'s
  choice for cine) and the orthonormal DCT-II for a mapping series (weightings ordered by inversion/echo/spin-lock
  time are not periodic; the DCT is the Fourier transform of the even extension, so it has no wrap-around edge).
  Both are unitary, so the l1 step is SigPy's :class:`sigpy.prox.UnitaryTransform` of :class:`sigpy.prox.L1Reg`.
* ``A = P F C`` is the multi-frame SENSE operator of :func:`cardiomm.physics.sense.sense_linop` with the same
  ESPIRiT maps, masks, ACS and data scaling as ``sense``/``cs``/``kttv``
  (:func:`cardiomm.recon.classical.problem.scaled_problem`).

Solver: the two parts are stacked into one variable ``z = [L; S]`` and the problem is a smooth least-squares term
``1/2 || A (L + S) - y ||^2`` plus a separable non-smooth term, solved with SigPy's accelerated proximal gradient
(FISTA: :class:`sigpy.app.LinearLeastSquares`, ``solver="GradientMethod"``, the proximal step a
:class:`sigpy.prox.Stack` of the two). ``|| A [I, I] ||^2 = 2 || A ||^2 <= 2``, so the step is ``1/2`` (no power
iteration). Otazo et al.'s own iteration (thresholding ``L`` and ``S`` in turn on one shared data-consistency
step) is a heuristic splitting of the same objective; FISTA minimises it with a convergence guarantee.

Units: ``lamda`` (the sparse weight) is relative to a unit-magnitude image, as for ``cs`` and ``kttv``. The
nuclear norm grows with the number of pixels (the first singular value of a unit image is about
``sqrt(nt * pixels)``), so ``lamda_L`` is relative to the largest singular value of the zero-filled Casorati
matrix ``A^H y`` of the slice (a fixed number per slice, so the objective stays convex; Otazo et al.'s code
thresholds at a fraction of the current iterate's largest singular value in the same spirit). The image is
``L + S`` on the RSS reference's scale.

BART (0.8) has no equivalent: ``pics`` adds every ``-R`` penalty to one image ``x`` (``-R L`` is locally low-rank
``x``, not ``x = L + S``), and its multi-scale low rank (``-R M``) splits ``x`` into block-low-rank parts at several
block sizes, not a low-rank part plus a part sparse in the temporal Fourier/DCT domain. So ``lps`` has a SigPy
engine only (``engine: bart`` is refused with that reason).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.fft
import sigpy as sp

from cardiomm.physics.linops import Unitary
from cardiomm.recon.classical.problem import scaled_problem
from cardiomm.recon.classical.series import ClassicalSolver


class NuclearNormReg(sp.prox.Prox):
    """Proximal step of ``lamda || X ||_*``, ``X`` the Casorati matrix ``(nt, prod(rest))`` of an ``(nt, ...)`` array.

    ``prox(alpha, x) = U max(s - alpha * lamda, 0) V^H`` for ``x = U diag(s) V^H`` (singular value thresholding).
    """

    def __init__(self, shape: tuple[int, ...], lamda: float):
        if len(shape) < 2:
            raise ValueError(f"NuclearNormReg: needs (nt, ...) with at least two axes, got {shape}")
        self.lamda = float(lamda)
        super().__init__(tuple(shape))

    def _prox(self, alpha: float, input: np.ndarray) -> np.ndarray:
        m = np.asarray(input).reshape(self.shape[0], -1)
        u, s, vh = np.linalg.svd(m, full_matrices=False)
        s = np.maximum(s - np.float32(alpha * self.lamda), 0).astype(s.dtype)
        return ((u * s) @ vh).reshape(self.shape).astype(input.dtype, copy=False)


def _tfft(x: np.ndarray) -> np.ndarray:
    return scipy.fft.fft(x, axis=0, norm="ortho", workers=1)


def _tifft(x: np.ndarray) -> np.ndarray:
    return scipy.fft.ifft(x, axis=0, norm="ortho", workers=1)


def _tdct(x: np.ndarray) -> np.ndarray:
    return scipy.fft.dct(x, type=2, axis=0, norm="ortho", workers=1)


def _tidct(x: np.ndarray) -> np.ndarray:
    return scipy.fft.idct(x, type=2, axis=0, norm="ortho", workers=1)


def TemporalFFT(shape: tuple[int, ...]) -> Unitary:  # noqa: N802 (an operator)
    """Orthonormal, uncentred FFT along axis 0 (frames): ``(nt, ...)`` -> ``(nt, ...)``; unitary."""
    return Unitary(shape, _tfft, _tifft, "TemporalFFT")


def TemporalDCT(shape: tuple[int, ...]) -> Unitary:  # noqa: N802 (an operator)
    """Orthonormal DCT-II along axis 0 (frames), applied to the real and imaginary parts: unitary on complex arrays."""
    return Unitary(shape, _tdct, _tidct, "TemporalDCT")


def temporal_transform(shape: tuple[int, ...], periodic: bool) -> sp.linop.Linop:
    """The sparsifying transform of ``S``: :class:`TemporalFFT` (``periodic``, cine) or :class:`TemporalDCT`."""
    return TemporalFFT(shape) if periodic else TemporalDCT(shape)


def lowrank_scale(A: sp.linop.Linop, y: np.ndarray) -> float:
    """Largest singular value of the Casorati matrix of ``A^H y`` (the unit of ``lamda_L``)."""
    s = float(np.linalg.norm(np.asarray(A.H(y)).reshape(A.ishape[0], -1), ord=2))
    if not np.isfinite(s) or s <= 0:
        raise ValueError("the undersampled k-space of a slice is empty (zero-filled image is 0): nothing to solve")
    return s


def lps_problem(A: sp.linop.Linop, y: np.ndarray, lamda: float, lamda_lowrank: float,
                periodic: bool) -> tuple[sp.linop.Linop, sp.prox.Prox, dict]:
    """``(E, proxg, parts)`` of the stacked problem ``min_z 1/2 ||E z - y||^2 + g(z)``, ``z = vec([L; S])``.

    ``E = A Sum Reshape`` (``z`` of length ``2 N`` -> ``L + S`` -> k-space); ``proxg`` the :class:`sigpy.prox.Stack`
    of :class:`NuclearNormReg` (``lamda_lowrank`` times :func:`lowrank_scale`) and the l1 of :func:`temporal_transform`.
    ``parts``: ``{"shape", "lamda_nuclear", "T"}`` for the objective and the unstacking.
    """
    shape = tuple(A.ishape)
    n = int(np.prod(shape))
    lam_nuc = float(lamda_lowrank) * lowrank_scale(A, y)
    T = temporal_transform(shape, periodic)
    E = A * sp.linop.Sum((2, *shape), axes=(0,)) * sp.linop.Reshape((2, *shape), (2 * n,))
    proxg = sp.prox.Stack([NuclearNormReg(shape, lam_nuc), sp.prox.UnitaryTransform(sp.prox.L1Reg(shape, lamda), T)])
    return E, proxg, {"shape": shape, "lamda_nuclear": lam_nuc, "T": T}


def lps_objective(A: sp.linop.Linop, y: np.ndarray, L: np.ndarray, S: np.ndarray, lamda: float,
                  lamda_nuclear: float, T: sp.linop.Linop) -> float:
    """``1/2 ||A (L + S) - y||^2 + lamda_nuclear ||L||_* + lamda ||T S||_1`` (float64)."""
    r = np.asarray(A(L + S)) - y
    nuc = np.linalg.svd(np.asarray(L).reshape(L.shape[0], -1), compute_uv=False).astype(np.float64).sum()
    return float(0.5 * np.vdot(r, r).real + lamda_nuclear * nuc + lamda * np.abs(np.asarray(T(S))).sum())


def lps_solve(A: sp.linop.Linop, y: np.ndarray, lamda: float, lamda_lowrank: float, max_iter: int,
              periodic: bool = True, callback: Callable[[np.ndarray, np.ndarray], None] | None = None,
              accelerate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """FISTA on the stacked ``[L; S]`` (see the module docstring); ``(L, S)`` complex64 ``A.ishape`` each.

    Starts from ``L = A^H y``, ``S = 0``. ``callback(L, S)``, if given, is called after every iteration
    (for the objective in tests). ``accelerate=False``: plain proximal gradient (ISTA), whose objective never
    increases (FISTA's may, by a little, on its way down).
    """
    E, proxg, parts = lps_problem(A, y, lamda, lamda_lowrank, periodic)
    shape = parts["shape"]
    z0 = np.concatenate([np.asarray(A.H(y)).ravel(), np.zeros(int(np.prod(shape)), np.complex64)])
    lls = sp.app.LinearLeastSquares(E, y, x=z0.astype(np.complex64), proxg=proxg, solver="GradientMethod",
                                    alpha=0.5, max_iter=max_iter, accelerate=accelerate, show_pbar=False)
    if callback is None:
        lls.run()
    while not lls.alg.done():  # the same iterations as run(), with the callback between them
        lls.alg.update()
        z = np.asarray(lls.alg.x).reshape(2, *shape)
        callback(z[0], z[1])
    z = np.asarray(lls.x).reshape(2, *shape)
    return z[0].astype(np.complex64), z[1].astype(np.complex64)


def lps_slice(y: np.ndarray, maps: np.ndarray, mask: np.ndarray, lamda: float, lamda_lowrank: float, max_iter: int,
              periodic: bool = True) -> np.ndarray:
    """L+S SENSE of all frames of one slice jointly (FISTA, SigPy).

    Parameters
    ----------
    y: complex ``(nt, nc, ny, nx)`` undersampled k-space; maps: ``(nc, ny, nx)``; mask: ``(nt, ny, nx)``.
    lamda: l1 weight of ``T S`` relative to a unit-magnitude image; lamda_lowrank: nuclear-norm weight relative to
        the largest singular value of the zero-filled Casorati matrix. max_iter: FISTA iterations.
    periodic: temporal Fourier (cine) or DCT (mapping series) for ``S``.

    Returns
    -------
    complex64 ``(nt, ny, nx)`` image ``L + S`` on the RSS reference's scale.
    """
    A, ys, s = scaled_problem(y, maps, mask)
    L, S = lps_solve(A, ys, lamda, lamda_lowrank, max_iter, periodic)
    return ((L + S) * np.float32(s)).astype(np.complex64)


def _lps(y: np.ndarray, maps: np.ndarray, mask: np.ndarray, lamda: float, lamda_lowrank: float | None,
         max_iter: int, periodic: bool) -> np.ndarray:
    if lamda_lowrank is None:
        raise ValueError("lps needs lamda_lowrank")
    return lps_slice(y, maps, mask, lamda, lamda_lowrank, max_iter, periodic=periodic)


#: the registry entry of ``lps`` (SigPy only: BART has no L+S, see the module docstring)
LPS = ClassicalSolver(_lps, pics=None, lowrank=True)
