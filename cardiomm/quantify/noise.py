"""Background noise of magnitude images: the noise floor to remove before fitting, and an SNR criterion.

Why: the reference is the root-sum-of-squares (RSS) of ``L`` coil images. Its noise is non-central chi with
``2L`` degrees of freedom, so ``E[M^2] = A^2 + P`` with ``P = sum_c E|n_c|^2`` the total noise power of the
coils. At the default SNR of 25 with 10 virtual coils the floor is about 13% of the myocardial signal, which
lifts the late, weak weightings: measured on the default cohort with the true labels, the RSS reference
under-estimates T1 by 20-33 ms and over-estimates T2 by 2.5-3.6 ms and T1rho by 2.2-3.3 ms, while noiseless
data recover the truth to 0.2 ms (``benchmarks/bench_reference_bias.py``).

Correction (the power-image correction for multi-coil magnitude data, e.g. Constantinides et al. 1997
Magn Reson Med 38:852): ``M_c = sqrt(max(M^2 - P, 0))`` is fitted instead of ``M``; ``M^2 - P`` is an
unbiased estimate of ``A^2``. ``P`` needs no coil count or noise model: in air (``A = 0``) ``E[M^2] = P``, so it
is the mean of ``M^2`` over the background air of the same image.

Background air of one slice: pixels darker than Otsu's threshold on the log of the mean image over the
weightings that are connected to the image border (dark lungs inside the body are excluded), eroded by
:data:`AIR_EROSION_PX` pixels so that the body's edge is not counted. Fewer than :data:`MIN_AIR_PIXELS` such
pixels: no estimate (``None``), and the caller must say so.

When the floor may be removed: only where the background is what the correction assumes, the RSS magnitude of
noise alone. Noise of a fully sampled acquisition is white (independent k-space samples give independent
pixels), so its air has no spatial structure; a reconstruction that denoises (a network, regularised SENSE)
or aliases (zero-filled undersampled data) leaves structured, smooth or zero air whose power is not the floor in
its tissue. The test (:func:`neighbour_correlation`): the correlation of each air pixel with its neighbour (the
larger of the x and y lags, over the weightings) must not exceed :data:`MAX_AIR_CORRELATION`, and the air must
not be zero. Measured (``benchmarks/results/noise_floor_methods.md``, and the tiny workflow cohort): the fully
sampled RSS reference has 0.001-0.02 (default cohort) and 0.03-0.07 (tiny cohort: 8 coils, small FOV); every
reconstruction of undersampled data 0.37-0.89 (zero-filled, E2E-VarNet, CardioMM), and SENSE's air is exactly
zero (outside the ESPIRiT support). In those series the ratio of the background floor to the floor measured in
the tissue against a noiseless twin was 0 (SENSE), 0.3-1.0 (zero-filled, CardioMM) and 0.8-46 (E2E-VarNet,
whose tissue carries no floor), so removing it changed T1 by an arbitrary amount; such a series is fitted as
it is, and the caller records why. (A Kolmogorov-Smirnov test of the air against central chi was tried and
dropped: with correlated coils the noise is a weighted sum of chi-squares, and the tiny cohort's reference
failed it.)

SNR criterion: a pixel is fitted as a valid value only if its brightest weighted image exceeds the background
mean by :data:`MIN_PEAK_Z` background standard deviations. A noise-only RSS pixel with 10 coils peaks at about
mean + 3.5 SD over 8 weightings (99.9th percentile), myocardium at SNR 25 far above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

MIN_AIR_PIXELS = 200
AIR_EROSION_PX = 2
MIN_PEAK_Z = 5.0
#: largest neighbour correlation of noise-only (white) air; reconstructions of undersampled data have >= 0.37
MAX_AIR_CORRELATION = 0.2


@dataclass(frozen=True)
class BackgroundNoise:
    """Noise statistics of one slice's background air (image units).

    Attributes
    ----------
    power: mean of ``M^2`` over the air pixels and weightings (the noise floor ``P``).
    mean, sd: mean and SD of ``M`` over the same samples.
    n_pixels: number of air pixels used.
    correlation: neighbour correlation of the air (:func:`neighbour_correlation`; NaN for zero or constant air).
    """

    power: float
    mean: float
    sd: float
    n_pixels: int
    correlation: float = float("nan")

    @property
    def floor_valid(self) -> bool:
        """The air is white noise (not zero, not smooth or structured), so its power is the tissue's floor too."""
        return bool(self.power > 0 and np.isfinite(self.correlation) and self.correlation <= MAX_AIR_CORRELATION)

    @property
    def floor_reason(self) -> str:
        """Why the floor may not be removed ('' where it may)."""
        if self.floor_valid:
            return ""
        if not (self.power > 0 and np.isfinite(self.correlation)):
            return "background air is zero or constant (not noisy RSS magnitude)"
        return (f"background air is not white noise (neighbour correlation {self.correlation:.2f} > "
                f"{MAX_AIR_CORRELATION}: denoised or aliased)")

    @property
    def min_peak(self) -> float:
        """Smallest brightest-weighting magnitude a pixel needs to be fitted as valid."""
        return self.mean + MIN_PEAK_Z * self.sd


def background_air(images: np.ndarray) -> np.ndarray:
    """Background air of one slice: bool ``(ny, nx)`` from magnitude images ``(nw, ny, nx)``."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images: expected one slice of weighted magnitudes (nw, ny, nx), got {images.shape}")
    mean = images.mean(axis=0)
    top = float(np.max(mean)) if mean.size else 0.0
    if not np.isfinite(top) or top <= 0:
        return np.zeros(mean.shape, dtype=bool)
    logm = np.log(np.maximum(mean, 1e-9 * top))
    if np.ptp(logm) == 0:
        return np.zeros(mean.shape, dtype=bool)
    dark = logm < threshold_otsu(logm)
    lab, _ = ndimage.label(dark)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    air = np.isin(lab, edge[edge > 0])
    return ndimage.binary_erosion(air, iterations=AIR_EROSION_PX)


def neighbour_correlation(images: np.ndarray, air: np.ndarray) -> float:
    """Correlation of air pixels with their x and y neighbours (the larger), pooled over the weightings.

    ``images (nw, ny, nx)``, ``air (ny, nx)`` bool. NaN where the air has no variance (zero or constant).
    """
    images = np.asarray(images, dtype=np.float64)
    best = float("nan")
    for ax in (-1, -2):
        pair = air & np.roll(air, 1, axis=ax)
        x = images[:, pair]
        y = np.roll(images, 1, axis=ax)[:, pair]
        x = x - x.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
        den = np.sqrt((x * x).sum() * (y * y).sum())
        if den > 0:
            r = float((x * y).sum() / den)
            best = r if not np.isfinite(best) else max(best, r)
    return best


def background_noise(images: np.ndarray) -> BackgroundNoise | None:
    """Noise statistics of one slice ``(nw, ny, nx)``; ``None`` if fewer than :data:`MIN_AIR_PIXELS` air pixels."""
    images = np.asarray(images, dtype=np.float64)
    air = background_air(images)
    n = int(air.sum())
    if n < MIN_AIR_PIXELS:
        return None
    v = images[:, air]
    return BackgroundNoise(float((v**2).mean()), float(v.mean()), float(v.std()), n,
                           neighbour_correlation(images, air))


def floor_summary(noise: list[BackgroundNoise | None] | None) -> str:
    """What a mapping series' fit did about the noise floor, for its biomarker row.

    ``noise``: per slice, as given to :func:`cardiomm.quantify.mapping.map_series` (``None``: not asked for).
    """
    if noise is None:
        return "not removed (not asked for: quantify.noise_floor is none)"
    done = [z for z, n in enumerate(noise) if n is not None and n.floor_valid]
    if len(done) == len(noise):
        return "removed (background air, every slice)"
    why = {z: ("no background air" if n is None else n.floor_reason) for z, n in enumerate(noise) if z not in done}
    head = f"removed in slices {done}; " if done else ""
    return head + "not removed in " + "; ".join(f"slice {z}: {r}" for z, r in why.items())


def floor_status(summary: object) -> str:
    """``"every"`` / ``"some"`` / ``"none"``: in how many slices a fit removed the floor, read back from the text
    :func:`floor_summary` wrote (a biomarker row's ``noise_floor``)."""
    text = str(summary)
    if text.startswith("removed ("):
        return "every"
    return "some" if text.startswith("removed in slices") else "none"


def remove_noise_floor(images: np.ndarray, power: float) -> np.ndarray:
    """``sqrt(max(M^2 - power, 0))`` of magnitude images (any shape)."""
    images = np.asarray(images, dtype=np.float64)
    if not (np.isfinite(power) and power >= 0):
        raise ValueError(f"power: the noise floor must be a finite number >= 0, got {power}")
    return np.sqrt(np.maximum(images**2 - power, 0.0))
