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
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

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


# ---------------------------------------------------------------------------------------------
# The releases' official scoring protocols (selection, crop, normalisation), and ours
# ---------------------------------------------------------------------------------------------
# Written from the official definitions:
#   selection + crop: run4Ranking.m (CmrxRecon/CMRxRecon and CmrxRecon/CMRxRecon2024, CMRxReconDemo/): the central
#     2 slices (MATLAB round(sz/2)-1 : round(sz/2); every slice when sz < 3), for cine the first 3 frames, for
#     T1/T2 mapping every weighting; the central round(sx/3) x round(sy/2) of each image (sx = readout = our nx,
#     sy = phase encoding = our ny), stored as single. The 2025 scorer reads the same `img4ranking` files
#     (evaluation-2025/loadFun.py of CmrxRecon/CMRxRecon2025-snippets); the 2025 release's run4Ranking_2025.m (read
#     in a public copy of CmrxRecon/CMRxRecon2025, CMRxReconDemo/) keeps the same slices and crop, every weighting of
#     T1map/T2map/T2smap/T1mappost/T1rho files, one image of BlackBlood/T1w/T2w, and 1:min(3, t) frames of every
#     other file (cine views, LGE, perfusion, flow): conventions.Modality.ranking_kind.
#   per-image normalisation and metrics (skimage PSNR/SSIM, NMSE):
#     2023 Evaluation/Evaluation.py + Main_Score.py (CmrxRecon/CMRxRecon): each image divided by its own maximum;
#          data range = max of the normalised reference (1); NMSE relative to the reference.
#     2024 evaluation-2024/Evaluation.py + Val_Score2024.py (CMRxRecon2025-snippets): each image z-scored (population
#          std, + 1e-8); the scorer passes (reference, reconstruction) into calmetric(pred, gt), so the data range
#          of PSNR and SSIM is the max of the normalised RECONSTRUCTION and NMSE is relative to the reconstruction.
#     2025 evaluation-2025/Evaluation.py + Val_Score2025.py: each image divided by its own 99.5th percentile (left
#          as is if that is 0), with the same argument order as 2024 (data range and NMSE from the reconstruction).
#   A file's score is the mean over its selected images; the tables keep the per-image rows.
#   Checked to 1e-6 (bit-identical in practice) against the official Python scoring code run on seeded arrays
#   (tests/test_image_quality.py).
PROTOCOLS = ("all-frames", "cmrxrecon2023", "cmrxrecon2024", "cmrxrecon2025")
RANKING_FRAMES_CINE = 3


def ranking_selection(nt: int, nz: int, kind: str) -> tuple[list[int], list[int]]:
    """``(frames, slices)`` (0-based) that the CMRxRecon ranking scores for a ``cine`` or ``mapping`` series
    (:attr:`cardiomm.conventions.Modality.ranking_kind`): the central 2 slices, the first 3 cine frames (fewer if
    the series has fewer), every mapping weighting (a single-image series: its one image)."""
    if kind not in ("cine", "mapping"):
        raise ValueError(f"ranking_selection: kind must be 'cine' or 'mapping', got {kind!r}")
    centre = _matlab_round(nz / 2)
    slices = list(range(nz)) if nz < 3 else [centre - 2, centre - 1]
    if kind == "cine":
        # run4Ranking_2025.m: 1:min(3, t) (t == 1: the one frame); the 2023/2024 scripts index 1:3, which MATLAB
        # refuses for t < 3, so the 2025 rule is theirs wherever they run at all
        frames = list(range(min(RANKING_FRAMES_CINE, nt)))
    else:
        frames = list(range(nt))
    return frames, slices


def _zscore(img: np.ndarray) -> np.ndarray:
    # normalize_std of evaluation-2024/Evaluation.py (CMRxRecon2025-snippets, newest snapshot): std + 1e-8
    return (img - np.mean(img)) / (np.std(img) + 1e-8)


def _by_percentile(img: np.ndarray) -> np.ndarray:
    p = np.percentile(img, NORM_PERCENTILE)
    return img if p == 0 else img / p


def _official_image(protocol: str, g: np.ndarray, p: np.ndarray) -> dict:
    """Metrics of one reference image ``g`` / reconstruction ``p`` (float32, cropped) under ``protocol``."""
    # the official scorers see each image as MATLAB's (sx, sy) = our (nx, ny): the transposed view (same memory)
    # makes the float32 reductions and SSIM filters run in their order, so the numbers agree to rounding
    g, p = g.T, p.T
    if protocol == "cmrxrecon2023":
        gn, pn = g / g.max(), p / p.max()
        first, second = gn, pn  # data range and NMSE denominator from the reference
    else:
        norm = _zscore if protocol == "cmrxrecon2024" else _by_percentile
        gn, pn = norm(g), norm(p)
        first, second = pn, gn  # the official scorers' argument order: from the reconstruction
    dr = first.max()
    return {
        "psnr": float(peak_signal_noise_ratio(first, second, data_range=dr)),
        "ssim": float(structural_similarity(first, second, data_range=dr)),
        "nmse": float(np.linalg.norm(first - second) ** 2 / np.linalg.norm(first) ** 2),
    }


def protocol_metrics(ref: np.ndarray, rec: np.ndarray, protocol: str, kind: str) -> list[dict]:
    """PSNR, SSIM and NMSE per scored 2D image under a scoring protocol.

    Parameters
    ----------
    ref, rec: real ``(nt, nz, ny, nx)`` reference and reconstruction magnitudes, same shape.
    protocol: ``all-frames`` (every frame and slice, uncropped, each image by its own 99.5th percentile: the
        synthetic default, :func:`frame_metrics`), or ``cmrxrecon2023`` / ``cmrxrecon2024`` / ``cmrxrecon2025``
        (the release's selection, crop and normalisation; see the comment above :data:`PROTOCOLS`).
    kind: ``cine`` or ``mapping`` (the ranking keeps 3 cine frames, every mapping weighting).

    Returns
    -------
    one dict per scored image, slice-major: ``slice``, ``frame`` (indices into the full series), ``psnr`` (dB),
    ``ssim``, ``nmse``, ``protocol``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"image_quality.protocol: {protocol!r} is not one of {PROTOCOLS}")
    if protocol == "all-frames":
        return [{**r, "protocol": protocol} for r in frame_metrics(ref, rec)]
    ref, rec = np.asarray(ref), np.asarray(rec)
    if ref.shape != rec.shape or ref.ndim != 4:
        raise ValueError(f"protocol_metrics: expected equal (nt, nz, ny, nx) shapes, got {ref.shape} and {rec.shape}")
    for label, arr in (("ref", ref), ("rec", rec)):
        if np.iscomplexobj(arr) or not np.isfinite(arr).all():
            raise ValueError(f"protocol_metrics: {label} must be real and finite")
    frames, slices = ranking_selection(ref.shape[0], ref.shape[1], kind)
    # run4Ranking stores single precision: the official numbers are computed on float32 images
    g_all = central_crop(ref).astype(np.float32)
    p_all = central_crop(rec).astype(np.float32)
    if min(g_all.shape[-2:]) < SSIM_WIN:
        raise ValueError(f"protocol_metrics: the crop {g_all.shape[-2:]} is smaller than the SSIM window")
    rows = []
    for z in slices:
        for t in frames:
            g, p = g_all[t, z], p_all[t, z]
            if not g.any() or not p.any():
                raise ValueError(f"protocol_metrics: slice {z} frame {t}: an all-zero image cannot be normalised "
                                 f"under {protocol}")
            rows.append({"slice": z, "frame": t, **_official_image(protocol, g, p), "protocol": protocol})
    return rows
