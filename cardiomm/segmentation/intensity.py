"""The segmenter's per-image intensity normalisation, without MONAI (a segment job must not import MONAI).

Percentiles 1 and 99 of each 2D image map to 0 and 1, clipped to [0, 1]. Training applies it through MONAI's
``ScaleIntensityRangePercentilesd`` with :data:`NORM_ARGS` (:mod:`cardiomm.segmentation.data`); inference calls
:func:`normalise_image`, which computes exactly what MONAI 1.6's ``ScaleIntensityRangePercentiles(**NORM_ARGS)``
computes, bit for bit (``tests/test_seg_light.py``):

- the percentiles are ``torch.quantile`` in float32 (``np.percentile`` above 1,000,000 pixels, as MONAI switches);
- ``(x - p1) / (p99 - p1)``, clipped to [0, 1], in float32;
- when ``p1 == p99`` (an image that is more than 98% one value) MONAI does not scale: it returns ``x - p1``,
  unclipped. The segmenter was trained with that rule, so inference keeps it.

Importing this module costs torch and numpy only.
"""

from __future__ import annotations

import numpy as np
import torch

# Percentile normalisation shared by training and inference.
PCT_LOW, PCT_HIGH = 1.0, 99.0
# The arguments of MONAI's ScaleIntensityRangePercentiles(d) that training uses.
NORM_ARGS = {"lower": PCT_LOW, "upper": PCT_HIGH, "b_min": 0.0, "b_max": 1.0, "clip": True, "channel_wise": True}
# MONAI's percentile() uses numpy beyond this many elements (pytorch#64947), torch.quantile below.
_TORCH_QUANTILE_MAX = 1_000_000


def check_image(img: np.ndarray, source: str) -> np.ndarray:
    """Check one 2D magnitude image ``(ny, nx)``: real, finite, not constant. Returns it as float32."""
    a = np.asarray(img)
    if a.ndim != 2:
        raise ValueError(f"{source}: expected a 2D image (ny, nx), got shape {a.shape}")
    if np.iscomplexobj(a):
        raise ValueError(f"{source}: image is complex; pass the magnitude (RSS) image")
    if not np.isfinite(a).all():
        raise ValueError(f"{source}: image contains {int((~np.isfinite(a)).sum())} NaN/Inf values")
    if a.size == 0 or float(a.max()) == float(a.min()):
        what = "all zero" if a.size == 0 or not a.any() else f"constant ({float(a.flat[0])})"
        raise ValueError(f"{source}: image is {what}; nothing to segment")
    return a.astype(np.float32, copy=False)


def _percentile(t: torch.Tensor, q: float) -> torch.Tensor:
    """0-d float32 tensor: the ``q``-th percentile of ``t``, computed as MONAI's ``percentile`` computes it."""
    if t.numel() > _TORCH_QUANTILE_MAX:
        return torch.as_tensor(np.percentile(t.numpy(), q), dtype=t.dtype)
    return torch.quantile(t, torch.tensor(q / 100.0, dtype=t.dtype))


def normalise_image(img: np.ndarray, source: str = "image") -> np.ndarray:
    """Per-image intensity normalisation used by training and inference.

    Parameters
    ----------
    img: magnitude image ``(ny, nx)``, any positive scale.
    source: name for error messages.

    Returns
    -------
    float32 ``(ny, nx)``: the 1st percentile maps to 0, the 99th to 1, clipped to [0, 1] (see the module docstring
    for an image whose two percentiles coincide).
    """
    t = torch.from_numpy(np.ascontiguousarray(check_image(img, source)))
    lo, hi = _percentile(t, PCT_LOW), _percentile(t, PCT_HIGH)
    if hi - lo == 0.0:
        return (t - lo + 0.0).numpy().astype(np.float32)
    out = ((t - lo) / (hi - lo)) * (NORM_ARGS["b_max"] - NORM_ARGS["b_min"]) + NORM_ARGS["b_min"]
    return torch.clamp(out, NORM_ARGS["b_min"], NORM_ARGS["b_max"]).numpy().astype(np.float32)
