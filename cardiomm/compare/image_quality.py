"""Image quality of a magnitude reconstruction against the fully sampled RSS reference, per 2D frame.

Metrics (per frame, after the optional crop and normalisation)
---------------------------------------------------------------
* PSNR = ``10 log10(data_range^2 / MSE)`` with ``data_range = max(ref)`` (the CMRxRecon evaluation's choice);
  ``inf`` when the images are identical.
* SSIM: :func:`skimage.metrics.structural_similarity` with that explicit ``data_range`` (7x7 window).
* NMSE = ``||ref - rec||^2 / ||ref||^2``.

Normalisation (``normalize=True``)
-----------------------------------
``norm="each"`` (default) is what the CMRxRecon 2025 evaluation code does (``normalize_percentile`` in
``CmrxRecon/CMRxRecon2025-snippets/evaluation-2025/Evaluation.py``): EACH image is divided by its OWN 99.5th
percentile (left unchanged if that percentile is 0), so metrics ignore a global intensity scale of either
image. ``norm="reference"`` divides both images by the REFERENCE's 99.5th percentile, so a reconstruction
with a wrong global scale is penalised; both modes are invariant to scaling ref and rec together.
No clipping is applied (the challenge's clip is commented out).

Crop (``crop=True``, default off)
---------------------------------
The CMRxRecon 2023/2024 ranking crop (``run4Ranking.m``): the central ``round(ny / 2) x round(nx / 3)``
(MATLAB rounding, half away from zero) of each frame, centred on ``(ny // 2, nx // 2)`` as MATLAB's
``crop`` does. The challenge also keeps only the 2 central slices and, for cine, the first 3 frames; that
selection is left to the caller. The crop is applied before the normalisation, as in the challenge.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

NORM_PERCENTILE = 99.5
NORM_MODES = ("each", "reference")
SSIM_WIN = 7


def _matlab_round(v: float) -> int:
    return int(math.floor(v + 0.5))


def central_crop(img: np.ndarray) -> np.ndarray:
    """CMRxRecon ranking crop of the last two axes.

    Parameters
    ----------
    img: ``(..., ny, nx)``.

    Returns
    -------
    ``(..., round(ny / 2), round(nx / 3))``, centred on ``(ny // 2, nx // 2)``.
    """
    ny, nx = img.shape[-2:]
    my, mx = max(1, _matlab_round(ny / 2)), max(1, _matlab_round(nx / 3))
    ys, xs = ny // 2 - my // 2, nx // 2 - mx // 2
    return img[..., ys : ys + my, xs : xs + mx]


def _percentile_scale(img: np.ndarray) -> float:
    p = float(np.percentile(img, NORM_PERCENTILE))
    return p if p > 0 else 1.0  # an all-zero image is left as it is (as the challenge does)


def psnr(ref: np.ndarray, rec: np.ndarray, data_range: float) -> float:
    """PSNR in dB of ``rec`` against ``ref`` (same shape); ``inf`` when they are equal."""
    mse = float(np.mean((ref.astype(np.float64) - rec.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(data_range**2 / mse)


def nmse(ref: np.ndarray, rec: np.ndarray) -> float:
    """``||ref - rec||^2 / ||ref||^2`` (``ref`` must not be all zero)."""
    ref64, rec64 = ref.astype(np.float64), rec.astype(np.float64)
    return float(np.sum((ref64 - rec64) ** 2) / np.sum(ref64**2))


def frame_metrics(
    ref: np.ndarray, rec: np.ndarray, normalize: bool = True, crop: bool = False, norm: str = "each"
) -> list[dict]:
    """PSNR, SSIM and NMSE of every 2D frame.

    Parameters
    ----------
    ref: real ``(nt, nz, ny, nx)`` fully sampled RSS reference (magnitude, any unit).
    rec: real ``(nt, nz, ny, nx)`` magnitude reconstruction, same shape.
    normalize: apply the 99.5th-percentile normalisation (see module docstring).
    crop: apply the CMRxRecon central ``ny/2 x nx/3`` crop first.
    norm: ``"each"`` (CMRxRecon 2025: each image by its own percentile) or ``"reference"`` (both by the
        reference's percentile); ignored when ``normalize`` is false.

    Returns
    -------
    one dict per frame, slice-major: ``{"slice": z, "frame": t, "psnr": dB, "ssim": unitless, "nmse": unitless}``.
    """
    ref = np.asarray(ref)
    rec = np.asarray(rec)
    if ref.shape != rec.shape:
        raise ValueError(f"frame_metrics: shape mismatch, ref {ref.shape} vs rec {rec.shape}")
    if ref.ndim != 4:
        raise ValueError(f"frame_metrics: expected (nt, nz, ny, nx) arrays, got shape {ref.shape}")
    if np.iscomplexobj(ref) or np.iscomplexobj(rec):
        raise ValueError("frame_metrics: ref and rec must be real magnitude images, got complex")
    for label, arr in (("ref", ref), ("rec", rec)):
        if not np.isfinite(arr).all():
            raise ValueError(f"frame_metrics: {label} contains {int((~np.isfinite(arr)).sum())} NaN/Inf values")
    if norm not in NORM_MODES:
        raise ValueError(f"frame_metrics: norm must be one of {NORM_MODES}, got {norm!r}")
    if crop:
        ref, rec = central_crop(ref), central_crop(rec)
    if min(ref.shape[-2:]) < SSIM_WIN:
        raise ValueError(
            f"frame_metrics: frames of {ref.shape[-2:]} are smaller than the {SSIM_WIN}x{SSIM_WIN} SSIM window"
        )
    nt, nz = ref.shape[:2]
    rows = []
    for z in range(nz):
        for t in range(nt):
            g = ref[t, z].astype(np.float64)
            p = rec[t, z].astype(np.float64)
            if normalize:
                g_scale = _percentile_scale(g)
                p_scale = _percentile_scale(p) if norm == "each" else g_scale
                g, p = g / g_scale, p / p_scale
            data_range = float(g.max())
            if data_range <= 0:
                raise ValueError(f"frame_metrics: reference frame (slice {z}, frame {t}) is all zero")
            rows.append(
                {
                    "slice": z,
                    "frame": t,
                    "psnr": psnr(g, p, data_range),
                    "ssim": float(structural_similarity(g, p, data_range=data_range, win_size=SSIM_WIN)),
                    "nmse": nmse(g, p),
                }
            )
    return rows
