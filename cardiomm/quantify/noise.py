"""Noise of a mapping series' acquisition: the RSS noise floor every fit models, and the scale of its validity test.

Why: the reference is the root-sum-of-squares (RSS) of ``L`` coil images. Its noise is non-central chi with
``2L`` degrees of freedom, so ``E[M^2] = A^2 + P`` with ``P = sum_c E|n_c|^2`` the total noise power of the
coils. At the default SNR of 25 with 10 virtual coils the floor lifts the late, weak weightings: fitted as they
are, the fully sampled reference under-estimates T1 by 20-50 ms and over-estimates T2 and T1rho by 2-4 ms
(``benchmarks/results/reference_bias.md``). :mod:`cardiomm.quantify.mapping` therefore fits the floor model
``M = sqrt(f(t)^2 + P)``, and needs ``P``.

Where ``P`` comes from: the acquisition, once per series and slice, and the same number for every image of that
series (the reference, every reconstruction, the rescan control). It is measured in the fully sampled data: the
coil images of a fully sampled acquisition hold noise alone outside the body (independent k-space samples give
white noise), so ``P`` is the mean of ``M^2`` over the background air of the series' fully sampled RSS (its
reference image), which equals ``sum_c sigma_c^2`` whatever the coils' correlation. Not each image's own air: a
reconstruction of undersampled data has denoised, zero (SENSE outside the ESPIRiT support) or aliased air, whose
power is not the floor of its tissue (issue 18, ``benchmarks/results/noise_floor_methods.md``), and a correction
that depends on it is a different instrument for every method. Not the k-space periphery either: on the phantom
the signal of edges and texture reaches the k-space corners, which read 5-10% above the coils' true noise power,
while the air of the fully sampled RSS reads 0.3-0.8% above it (P031, every mapping slice; the noiseless twin's
air holds 0.5% of it: the k-space rendering's ringing).

Background air of one slice: pixels darker than Otsu's threshold on the log of the mean image over the
weightings that are connected to the image border (dark lungs inside the body are excluded), eroded by
:data:`AIR_EROSION_PX` pixels so that the body's edge is not counted. Fewer than :data:`MIN_AIR_PIXELS` such
pixels, or air that is not white noise (the neighbour correlation, :func:`neighbour_correlation`, above
:data:`MAX_AIR_CORRELATION`: ghosts or a denoised, already processed image), or zero air: no estimate
(:func:`acquisition_noise` gives ``None`` and why), and that series is fitted without the floor for everyone.
The fully sampled RSS has correlations of 0.001-0.07 (default and tiny cohorts), reconstructions of undersampled
data 0.37-0.89.

Scale of the validity test: at high SNR the magnitude's noise variance is about ``P / (2 L)`` (the real part of
the coil noise along the signal); in air, the chi-distributed magnitude has variance ``P / (4 L) (1 + O(1/L))``.
So :attr:`AcquisitionNoise.variance` ``= 2 sd_air^2`` needs no coil count; with unequal coil noise it is the
larger of the two (Cauchy-Schwarz), which makes the test stricter, not looser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

MIN_AIR_PIXELS = 200
AIR_EROSION_PX = 2
#: largest neighbour correlation of noise-only (white) air; reconstructions of undersampled data have >= 0.37
MAX_AIR_CORRELATION = 0.2


@dataclass(frozen=True)
class AcquisitionNoise:
    """Noise of one slice of a mapping acquisition, from the air of its fully sampled RSS (image units).

    Attributes
    ----------
    power: ``P``, the mean of ``M^2`` over the air pixels and weightings (the RSS noise floor, ``E[M^2] - A^2``).
    sd: SD of the magnitude ``M`` over the same samples.
    n_pixels: number of air pixels used.
    correlation: neighbour correlation of the air (:func:`neighbour_correlation`).
    """

    power: float
    sd: float
    n_pixels: int
    correlation: float

    @property
    def variance(self) -> float:
        """Noise variance of a magnitude well above the floor, ``2 sd^2`` (module docstring)."""
        return 2.0 * self.sd**2


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


def slice_noise(images: np.ndarray) -> tuple[AcquisitionNoise | None, str]:
    """Acquisition noise of one slice of a fully sampled RSS series ``(nw, ny, nx)``: ``(noise, "")``, or
    ``(None, why not)`` where its air is too small, zero or not white noise (module docstring)."""
    images = np.asarray(images, dtype=np.float64)
    air = background_air(images)
    n = int(air.sum())
    if n < MIN_AIR_PIXELS:
        return None, f"{n} background air pixels (< {MIN_AIR_PIXELS})"
    v = images[:, air]
    power, corr = float((v**2).mean()), neighbour_correlation(images, air)
    if not (power > 0 and np.isfinite(corr)):
        return None, "background air is zero or constant (not the RSS of acquired noise)"
    if corr > MAX_AIR_CORRELATION:
        return None, f"background air is not white noise (neighbour correlation {corr:.2f} > {MAX_AIR_CORRELATION})"
    return AcquisitionNoise(power, float(v.std()), n, corr), ""


def acquisition_noise(reference: np.ndarray) -> tuple[list[AcquisitionNoise | None], list[str]]:
    """Acquisition noise of every slice of a mapping series, from its fully sampled RSS ``(nw, nz, ny, nx)``.

    Returns ``(noise, reasons)``, one entry per slice each: ``None`` and why where no estimate is possible.
    """
    reference = np.asarray(reference)
    if reference.ndim != 4:
        raise ValueError(f"reference: expected a mapping series of shape (nw, nz, ny, nx), got {reference.shape}")
    out = [slice_noise(reference[:, z]) for z in range(reference.shape[1])]
    return [n for n, _ in out], [r for _, r in out]


def noise_text(noise: list[AcquisitionNoise | None], reasons: list[str]) -> str:
    """How the floor was treated in each slice of a series, for its rows' ``procedure``."""
    parts = []
    for z, (n, why) in enumerate(zip(noise, reasons)):
        parts.append(f"slice {z}: P = {n.power:.4g}" if n is not None else f"slice {z}: no floor ({why})")
    return "; ".join(parts)
