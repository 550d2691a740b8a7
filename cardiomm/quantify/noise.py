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
noise alone. That is central chi with ``2L`` degrees of freedom; the test (:func:`chi_fit`) estimates ``L`` from
the moments (``E[M^4] / E[M^2]^2 = 1 + 1/L``) and compares the air samples with that chi distribution by the
Kolmogorov-Smirnov distance ``D``; the floor is removed if ``D <= KS_C / sqrt(n)`` (``n`` samples, the 1% critical
value of the KS test). Measured (``benchmarks/results/noise_floor_methods.md``): the fully sampled RSS reference
passes with ``D = 0.003-0.006`` over about 38 000 samples (bound 0.008); every reconstruction of undersampled data
fails: zero-filled (aliasing in the air, ``D = 0.08-0.25``), SENSE (air exactly zero outside the ESPIRiT
support), E2E-VarNet (``D = 0.04-0.20``) and CardioMM (denoised air, ``D = 0.016-0.18``). In those series the
background floor is not the floor in the tissue (it was 0 to 0.3 times the floor measured against a noiseless
twin), so removing it there changed T1 by an arbitrary amount; such a series is fitted as it is, and the caller
records why.

SNR criterion: a pixel is fitted as a valid value only if its brightest weighted image exceeds the background
mean by :data:`MIN_PEAK_Z` background standard deviations. A noise-only RSS pixel with 10 coils peaks at about
mean + 3.5 SD over 8 weightings (99.9th percentile), myocardium at SNR 25 far above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, stats
from skimage.filters import threshold_otsu

MIN_AIR_PIXELS = 200
AIR_EROSION_PX = 2
MIN_PEAK_Z = 5.0
#: Kolmogorov-Smirnov 1% critical value times sqrt(n) (asymptotic): the background's chi-fit bound
KS_C = 1.63


@dataclass(frozen=True)
class BackgroundNoise:
    """Noise statistics of one slice's background air (image units).

    Attributes
    ----------
    power: mean of ``M^2`` over the air pixels and weightings (the noise floor ``P``).
    mean, sd: mean and SD of ``M`` over the same samples.
    n_pixels: number of air pixels used.
    coils: the effective coil number ``L`` of the central chi fit (NaN where it has none: zero or constant air).
    ks_distance: Kolmogorov-Smirnov distance of the air samples to that chi distribution (1 where no fit).
    n_samples: air pixels x weightings.
    """

    power: float
    mean: float
    sd: float
    n_pixels: int
    coils: float = float("nan")
    ks_distance: float = 1.0
    n_samples: int = 0

    @property
    def ks_bound(self) -> float:
        """Largest KS distance of a noise-only background (:data:`KS_C` / sqrt(samples))."""
        return KS_C / np.sqrt(max(self.n_samples, 1))

    @property
    def floor_valid(self) -> bool:
        """The air is noise-only RSS (central chi), so its power is the floor in the tissue too."""
        return bool(self.power > 0 and np.isfinite(self.coils) and self.ks_distance <= self.ks_bound)

    @property
    def floor_reason(self) -> str:
        """Why the floor may not be removed ('' where it may)."""
        if self.floor_valid:
            return ""
        if not (self.power > 0 and np.isfinite(self.coils)):
            return "background air is zero or constant (not noisy RSS magnitude)"
        return (f"background air is not noise-only RSS (central chi fit: L = {self.coils:.1f}, KS distance "
                f"{self.ks_distance:.3f} > {self.ks_bound:.3f})")

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


def chi_fit(samples: np.ndarray) -> tuple[float, float]:
    """Central chi fit of magnitude samples (any shape): ``(L, KS distance)``, ``2L`` degrees of freedom.

    ``L = 1 / (E[M^4] / E[M^2]^2 - 1)`` (moments of central chi), scale ``sqrt(E[M^2] / 2L)``. Samples that are
    all zero or constant have no fit: ``(nan, 1.0)``.
    """
    v = np.asarray(samples, dtype=np.float64).ravel()
    m2 = float((v**2).mean()) if v.size else 0.0
    if not m2 > 0:
        return float("nan"), 1.0
    excess = float((v**4).mean()) / m2**2 - 1.0
    if not (np.isfinite(excess) and excess > 1e-6):
        return float("nan"), 1.0
    coils = 1.0 / excess
    scale = np.sqrt(m2 / (2.0 * coils))
    return coils, float(stats.kstest(v / scale, stats.chi(2.0 * coils).cdf).statistic)


def background_noise(images: np.ndarray) -> BackgroundNoise | None:
    """Noise statistics of one slice ``(nw, ny, nx)``; ``None`` if fewer than :data:`MIN_AIR_PIXELS` air pixels."""
    images = np.asarray(images, dtype=np.float64)
    air = background_air(images)
    n = int(air.sum())
    if n < MIN_AIR_PIXELS:
        return None
    v = images[:, air]
    coils, ks = chi_fit(v)
    return BackgroundNoise(float((v**2).mean()), float(v.mean()), float(v.std()), n, coils, ks, int(v.size))


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


def remove_noise_floor(images: np.ndarray, power: float) -> np.ndarray:
    """``sqrt(max(M^2 - power, 0))`` of magnitude images (any shape)."""
    images = np.asarray(images, dtype=np.float64)
    if not (np.isfinite(power) and power >= 0):
        raise ValueError(f"power: the noise floor must be a finite number >= 0, got {power}")
    return np.sqrt(np.maximum(images**2 - power, 0.0))
