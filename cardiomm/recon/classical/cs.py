"""Compressed sensing and k-t reconstruction as the field runs them, on SigPy's operators and solvers.

Two regularised SENSE problems, solved per slice with the ESPIRiT maps of
:func:`cardiomm.recon.classical.sense.espirit_maps`
(the same function, hence the same maps, as the SENSE baseline; one calibration per slice, shared by all its
frames), the same masks and ACS, and evaluated against the same RSS reference:

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

A third k-t method, ``lps`` (low-rank plus sparse, Otazo et al. 2015), is in :mod:`cardiomm.recon.classical.lps`; it
shares this module's operator, data scaling and :class:`CSParams`.

Scaling: the maps have unit RSS, the FFT is orthonormal and the mask is 0/1, so the forward operator ``A`` has
norm <= 1 (step sizes are set from that bound, no power iteration) and ``|x|`` is on the RSS reference's scale
(see :mod:`cardiomm.recon.classical.sense`). The l1 terms are not scale-invariant, so the data of each slice are
divided by
the 99th percentile of the magnitude of ``A^H y`` (the coil-combined zero-filled image) before solving, and the
result is multiplied back: ``lamda`` is relative to an image of unit magnitude, whatever the scanner's units
(BART's ``pics`` scales its data in the same spirit). Arithmetic is complex64 throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pywt
import scipy.fft
import sigpy as sp

# method -> one-line description (the methods of this module; SENSE is in cardiomm.recon.classical.sense)
CS_METHODS = {"cs": "l1-wavelet SENSE (spatial compressed sensing)", "kttv": "temporal-TV SENSE (k-t)"}
WAVELET = "db4"
SCALE_PERCENTILE = 99.0
PDHG_TAU = 2.0


@dataclass(frozen=True)
class CSParams:
    """Parameters of one regularised reconstruction (config blocks ``cs:`` / ``kttv:`` / ``lps:``).

    lamda: l1 weight relative to a unit-magnitude image (see the module docstring); for ``kttv``/``lps`` of a
        mapping series ``lamda_mapping`` is used instead when given (cine and weighting series differ in temporal
        redundancy, so the tuning chooses them separately).
    max_iter: solver iterations per slice.
    engine: ``sigpy`` (default) or ``bart`` (:mod:`cardiomm.recon.classical.bart`, needs the ``bart`` binary; not
    ``lps``). lamda_lowrank, lamda_lowrank_mapping: ``lps`` only: the nuclear-norm weight of the low-rank part
        (:mod:`cardiomm.recon.classical.lps`), for cine and (when given) for mapping series.
    """

    lamda: float
    max_iter: int
    lamda_mapping: float | None = None
    engine: str = "sigpy"
    lamda_lowrank: float | None = None
    lamda_lowrank_mapping: float | None = None

    @classmethod
    def from_dict(cls, method: str, cfg: dict | None) -> CSParams:
        cfg = dict(cfg or {})
        defaults = DEFAULTS[method]
        keys = {"lamda", "max_iter", "lamda_mapping", "engine"} | (LOWRANK_KEYS if method == "lps" else set())
        unknown = set(cfg) - keys
        if unknown:
            raise ValueError(f"config {method}: unknown keys {sorted(unknown)}")

        def opt(k: str, default: float | None = None) -> float | None:
            return default if cfg.get(k) is None else float(cfg[k])

        p = cls(
            lamda=float(cfg.get("lamda", defaults.lamda)),
            max_iter=int(cfg.get("max_iter", defaults.max_iter)),
            lamda_mapping=opt("lamda_mapping"),
            engine=str(cfg.get("engine", "sigpy")),
            lamda_lowrank=opt("lamda_lowrank", defaults.lamda_lowrank),
            lamda_lowrank_mapping=opt("lamda_lowrank_mapping"),
        )
        weights = (p.lamda, p.lamda_mapping, p.lamda_lowrank, p.lamda_lowrank_mapping)
        if any(w is not None and w < 0 for w in weights):
            raise ValueError(f"config {method}: weights must be >= 0, got lamda {p.lamda} / {p.lamda_mapping}"
                             + (f", lamda_lowrank {p.lamda_lowrank} / {p.lamda_lowrank_mapping}"
                                if method == "lps" else ""))
        if p.max_iter < 1:
            raise ValueError(f"config {method}.max_iter: must be >= 1, got {p.max_iter}")
        if p.engine not in ("sigpy", "bart"):
            raise ValueError(f"config {method}.engine: must be 'sigpy' or 'bart', got {p.engine!r}")
        if method == "lps" and p.engine == "bart":
            raise ValueError("config lps.engine: 'bart' has no L+S equivalent (pics puts every -R penalty on one "
                             "image; see cardiomm.recon.classical.lps); use engine: sigpy")
        return p

    def lamda_for(self, kind: str) -> float:
        """The weight for a series of ``kind`` ``"cine"`` or ``"mapping"``."""
        return self.lamda_mapping if kind == "mapping" and self.lamda_mapping is not None else self.lamda

    def lamda_lowrank_for(self, kind: str) -> float:
        """``lps``: the nuclear-norm weight for a series of ``kind`` ``"cine"`` or ``"mapping"``."""
        if self.lamda_lowrank is None:
            raise ValueError("CSParams.lamda_lowrank_for: no lamda_lowrank (only the lps method has one)")
        if kind == "mapping" and self.lamda_lowrank_mapping is not None:
            return self.lamda_lowrank_mapping
        return self.lamda_lowrank


#: the config keys that only ``lps`` has
LOWRANK_KEYS = {"lamda_lowrank", "lamda_lowrank_mapping"}
# the schema's defaults (cardiomm/schema/config.schema.json; tests/test_config_schema.py keeps them equal)
DEFAULTS = {"sense": CSParams(lamda=0.01, max_iter=30), "cs": CSParams(lamda=0.005, max_iter=30),
            "kttv": CSParams(lamda=0.02, max_iter=100),
            "lps": CSParams(lamda=0.003, max_iter=60, lamda_lowrank=0.01)}


# ---------------------------------------------------------------------------------------------- operators


class Unitary(sp.linop.Linop):
    """A unitary transform given by its two functions: ``(...)`` -> same shape; the adjoint is ``inverse``.

    ``forward`` and ``inverse`` must be exact inverses of one another and norm-preserving (``norm="ortho"``); the
    adjoint is then the same class with the two swapped, so a transform and its inverse are one definition.
    ``name`` labels it in SigPy's repr.
    """

    def __init__(self, shape: tuple[int, ...], forward: Callable[[np.ndarray], np.ndarray],
                 inverse: Callable[[np.ndarray], np.ndarray], name: str):
        self.forward, self.inverse = forward, inverse
        super().__init__(tuple(shape), tuple(shape), repr_str=name)

    def _apply(self, input: np.ndarray) -> np.ndarray:
        return self.forward(input)

    def _adjoint_linop(self) -> sp.linop.Linop:
        return Unitary(self.ishape, self.inverse, self.forward, f"{self.repr_str}^H")


def _fft2(x: np.ndarray) -> np.ndarray:
    return scipy.fft.fft2(x, norm="ortho", workers=1)


def _ifft2(x: np.ndarray) -> np.ndarray:
    return scipy.fft.ifft2(x, norm="ortho", workers=1)


def FFT2(shape: tuple[int, ...]) -> Unitary:  # noqa: N802 (an operator, named as SigPy names its linops)
    """Orthonormal, *uncentred* 2D FFT over the last two axes with :mod:`scipy.fft` (complex64 stays complex64).

    SigPy's own :class:`sigpy.linop.FFT` calls :mod:`numpy.fft` and shifts twice per call; this one is about twice
    as fast on the CPU. The centring is moved into the maps and the data instead (:func:`centring_modulation`).
    """
    return Unitary(shape, _fft2, _ifft2, "FFT2")


class Sample(sp.linop.Linop):
    """The sampled entries of multi-coil k-space: ``(nt, nc, ny, nx)`` -> ``(K, nc)``, ``K`` = sampled points.

    Equivalent to multiplying by the 0/1 mask for a least-squares fit, but the solvers' dual and residual
    variables then live on the ``K`` sampled points only (R times fewer than the grid).
    """

    def __init__(self, ishape: tuple[int, ...], mask: np.ndarray):
        m = np.asarray(mask) != 0
        nt, nc, ny, nx = ishape
        if m.shape != (nt, ny, nx):
            raise ValueError(f"Sample: mask shape {m.shape} != (nt, ny, nx) {(nt, ny, nx)}")
        self.mask = m
        self.index = np.nonzero(m)
        super().__init__((int(m.sum()), nc), tuple(ishape))

    def _apply(self, input: np.ndarray) -> np.ndarray:
        t, y, x = self.index
        return input[t, :, y, x]

    def _adjoint_linop(self) -> sp.linop.Linop:
        return Scatter(self.ishape, self.mask)


class Scatter(sp.linop.Linop):
    """Adjoint of :class:`Sample`: put ``(K, nc)`` values back on the zero-filled grid ``(nt, nc, ny, nx)``."""

    def __init__(self, oshape: tuple[int, ...], mask: np.ndarray):
        self.mask = np.asarray(mask) != 0
        self.index = np.nonzero(self.mask)
        super().__init__(tuple(oshape), (int(self.mask.sum()), oshape[1]))

    def _apply(self, input: np.ndarray) -> np.ndarray:
        out = np.zeros(self.oshape, dtype=input.dtype)
        t, y, x = self.index
        out[t, :, y, x] = input
        return out

    def _adjoint_linop(self) -> sp.linop.Linop:
        return Sample(self.oshape, self.mask)


def centring_modulation(ny: int, nx: int) -> tuple[np.ndarray, float]:
    """``(mod, sign)`` with ``fftshift(fft2(ifftshift(v))) = sign * mod * fft2(mod * v)`` for even ``ny``, ``nx``.

    ``mod = (-1)^(i + j)`` (float32 ``(ny, nx)``) and ``sign = (-1)^(ny/2 + nx/2)``: a half-grid shift in one domain
    is a checkerboard modulation in the other.
    """
    if ny % 2 or nx % 2:
        raise ValueError(f"centring_modulation: needs even ny, nx, got {(ny, nx)}")
    mod = ((-1.0) ** np.add.outer(np.arange(ny), np.arange(nx))).astype(np.float32)
    return mod, float((-1) ** (ny // 2 + nx // 2))


def kt_sense_op(maps: np.ndarray, mask: np.ndarray, centred: bool = True) -> sp.linop.Linop:
    """The multi-frame SENSE operator ``A = P F S`` of one slice as a SigPy linop.

    Parameters
    ----------
    maps: complex ``(nc, ny, nx)`` sensitivity maps (shared by all frames).
    mask: ``(nt, ny, nx)`` sampling mask (0/1).
    centred: ``True``: SigPy's centred orthonormal FFT (the convention of :mod:`cardiomm.physics.fft`).
        ``False``: the fast form for the solvers (even ``ny``, ``nx``): uncentred :class:`FFT2` with the maps
        multiplied by :func:`centring_modulation`'s ``mod``, and the mask as :class:`Sample`; it fits
        ``Sample(modulate_data(y))`` (:func:`modulate_data`) with the same residual norm, hence the same ``x``.

    Returns
    -------
    Linop from images ``(nt, ny, nx)`` to k-space: ``(nt, nc, ny, nx)`` (centred: coil weighting, 2D FFT, the frame's
    mask) or the ``(K, nc)`` sampled values (fast form).
    """
    maps = np.asarray(maps, dtype=np.complex64)
    m = (np.asarray(mask) != 0).astype(np.float32)
    if maps.ndim != 3 or m.ndim != 3 or m.shape[1:] != maps.shape[1:]:
        raise ValueError(f"kt_sense_op: maps (nc, ny, nx) {maps.shape} and mask (nt, ny, nx) {m.shape} disagree")
    nt, (nc, ny, nx) = m.shape[0], maps.shape
    if centred:
        F = sp.linop.FFT((nt, nc, ny, nx), axes=(-2, -1), center=True)
        P = sp.linop.Multiply((nt, nc, ny, nx), m[:, None])
    else:
        maps = maps * centring_modulation(ny, nx)[0]
        F = FFT2((nt, nc, ny, nx))
        P = Sample((nt, nc, ny, nx), m)
    R = sp.linop.Reshape((nt, 1, ny, nx), (nt, ny, nx))
    S = sp.linop.Multiply((nt, 1, ny, nx), maps[None])
    return P * F * S * R


def modulate_data(y: np.ndarray) -> np.ndarray:
    """Centred k-space ``(..., ny, nx)`` -> the data :func:`kt_sense_op` ``(centred=False)`` fits (complex64)."""
    mod, sign = centring_modulation(*y.shape[-2:])
    return (np.asarray(y) * (sign * mod)).astype(np.complex64)


def temporal_difference(ishape: tuple[int, ...], periodic: bool) -> sp.linop.Linop:
    """Finite difference along axis 0: ``x_t - x_{t-1}``, circular if ``periodic``, else the ``nt - 1`` inner ones.

    Output shape ``(1, nt, ...)`` (periodic) or ``(1, nt - 1, ...)``; norm <= 2.
    """
    G = sp.linop.FiniteDifference(tuple(ishape), axes=(0,))
    if periodic:
        return G
    return sp.linop.Slice(G.oshape, (slice(None), slice(1, None))) * G


def data_scale(A: sp.linop.Linop, y: np.ndarray) -> float:
    """The 99th percentile of ``|A^H y|``: the unit of ``lamda`` (see the module docstring)."""
    s = float(np.percentile(np.abs(A.H(y)), SCALE_PERCENTILE))
    if not np.isfinite(s) or s <= 0:
        raise ValueError("the undersampled k-space of a slice is empty (zero-filled image is 0): nothing to solve")
    return s


# ---------------------------------------------------------------------------------------------- solvers


def _problem(y: np.ndarray, maps: np.ndarray, mask: np.ndarray) -> tuple[sp.linop.Linop, np.ndarray, float]:
    """``(A, y / s, s)``: the fast operator and data (even grids; centred ones otherwise), scaled by ``s``."""
    m = np.asarray(mask) != 0
    y = np.asarray(y) * m[:, None]
    fast = y.shape[-2] % 2 == 0 and y.shape[-1] % 2 == 0
    A = kt_sense_op(maps, m, centred=not fast)
    y = Sample(y.shape, m)(modulate_data(y)) if fast else y.astype(np.complex64)
    s = data_scale(A, y)
    return A, (y / np.float32(s)).astype(np.complex64), s


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
    A, y, s = _problem(y, maps, mask)
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
    A, y, s = _problem(y, maps, mask)
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
