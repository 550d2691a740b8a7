"""Segment a series with a trained segmenter: full-image 2D inference, then per-slice cleanup.

Each 2D image gets the same percentile normalisation as in training
(:func:`cardiomm.segmentation.intensity.normalise_image`), is zero-padded symmetrically to a multiple of the
network's size divisor (as training pads), segmented whole (no sliding window: short-axis images are
small enough), cropped back, and cleaned: for each class only the largest 8-connected component of
each 2D slice is kept (:func:`keep_largest_components`, scikit-image's labelling; equal to MONAI's
``KeepLargestConnectedComponent``, tests/test_seg_train_infer.py), the others become
background. That removes isolated false positives (e.g. stomach or aorta mistaken for a ventricle)
that would otherwise add to volumes.

Device: :func:`cardiomm.device.get_device` (bf16 autocast on CUDA, float32 on CPU).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from skimage import measure

from cardiomm.conventions import LV_BLOOD, LV_MYO, N_CLASSES, RV_BLOOD
from cardiomm.device import autocast, get_device
from cardiomm.segmentation.intensity import normalise_image

_CLEANED = (LV_BLOOD, LV_MYO, RV_BLOOD)


def check_series(images: np.ndarray, source: str) -> np.ndarray:
    """Validate a magnitude series ``(nt, nz, ny, nx)``: 4 axes, real, finite, no constant (e.g. all-zero) image.

    Returns it as float32; raises ``ValueError`` naming ``source`` (and the frame/slice) otherwise.
    """
    a = np.asarray(images)
    if a.ndim != 4:
        raise ValueError(f"{source}: expected a (nt, nz, ny, nx) image series, got {a.ndim} axes {a.shape}")
    if min(a.shape) == 0:
        raise ValueError(f"{source}: image series has an empty axis {a.shape} (nt, nz, ny, nx)")
    if np.iscomplexobj(a):
        raise ValueError(f"{source}: image series is complex; pass magnitude images")
    bad = ~np.isfinite(a)
    if bad.any():
        t, z = np.argwhere(bad.any(axis=(2, 3)))[0]
        raise ValueError(f"{source}: {int(bad.sum())} NaN/Inf values (first in frame {t}, slice {z})")
    flat = a.reshape(a.shape[0], a.shape[1], -1)
    const = flat.max(axis=2) == flat.min(axis=2)
    if const.any():
        t, z = np.argwhere(const)[0]
        what = "all zero" if not a[t, z].any() else "constant"
        raise ValueError(f"{source}: image at frame {t}, slice {z} is {what} "
                         f"({int(const.sum())} of {const.size} images); nothing to segment")
    return a.astype(np.float32, copy=False)


def divisor_of(model: torch.nn.Module) -> int:
    """Height/width multiple the model needs (an exported segmenter's ``divisor``, a built one's ``seg_config``, else
    the product of its strides)."""
    if isinstance(getattr(model, "divisor", None), int):
        return model.divisor
    cfg = getattr(model, "seg_config", None)
    if cfg is not None:
        return int(cfg.divisor)
    return int(math.prod(getattr(model, "strides", (2, 2, 2, 2, 2))))


def _probabilities(model: torch.nn.Module, x: np.ndarray, device: torch.device) -> torch.Tensor:
    """Softmax probabilities ``(B, C, ny, nx)`` float32 on CPU for normalised images ``(B, ny, nx)``."""
    _, ny, nx = x.shape
    d = divisor_of(model)
    py, px = (-ny) % d, (-nx) % d
    t = torch.from_numpy(x)[:, None].to(device)
    # Symmetric zero padding, as ResizeWithPadOrCropd does in training; (left, right, top, bottom).
    t = F.pad(t, (px // 2, px - px // 2, py // 2, py - py // 2))
    with autocast(device):
        logits = model(t)
    prob = torch.softmax(logits.float(), dim=1)
    return prob[:, :, py // 2: py // 2 + ny, px // 2: px // 2 + nx].cpu()


def keep_largest_components(labels: np.ndarray) -> np.ndarray:
    """Per 2D slice and per class, keep only the largest connected component (8-connectivity).

    Parameters
    ----------
    labels: uint8 ``(..., ny, nx)``.

    Returns
    -------
    uint8 array of the same shape; removed pixels become background.
    """
    flat = labels.reshape(-1, *labels.shape[-2:])
    out = flat.astype(np.uint8, copy=True)
    for i, sl in enumerate(flat):
        for c in _CLEANED:
            mask = sl == c
            comp, n = measure.label(mask, connectivity=2, return_num=True)  # 8-connected
            if n > 1:
                # ranked as MONAI's get_largest_connected_component_mask ranks them, ties included
                counts = np.bincount(comp.ravel())
                counts[0] = 0
                out[i][mask & (comp != np.argsort(counts)[::-1][0])] = 0
    return out.reshape(labels.shape)


def _iter_batches(images: np.ndarray, batch_size: int, source: str):
    """Yield ``(index_array, normalised (B, ny, nx))`` over the flattened 2D images of a series."""
    flat = images.reshape(-1, *images.shape[-2:])
    for s in range(0, len(flat), batch_size):
        idx = np.arange(s, min(s + batch_size, len(flat)))
        yield idx, np.stack([normalise_image(flat[i], f"{source}[{i}]") for i in idx])


def segment_series(
    model: torch.nn.Module, images: np.ndarray, batch_size: int = 16, source: str = "images"
) -> np.ndarray:
    """Segment every 2D image of a series.

    Parameters
    ----------
    model: a segmenter (:func:`cardiomm.segmentation.training_task.load_segmenter`, or
        :func:`cardiomm.segmentation.compiled.load_exported`).
    images: float magnitude images ``(nt, nz, ny, nx)``.
    batch_size: 2D images per forward pass.
    source: name of the input (file path) for error messages.

    Returns
    -------
    uint8 labels ``(nt, nz, ny, nx)`` in our convention, largest component per class and slice.

    Raises
    ------
    ValueError
        naming ``source`` if ``images`` is not 4D, is complex, holds NaN/Inf, or has an all-zero
        (or constant) image.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    imgs = check_series(images, source)
    device = get_device()
    model = model.to(device).eval()
    out = np.empty((imgs.shape[0] * imgs.shape[1], *imgs.shape[-2:]), dtype=np.uint8)
    with torch.inference_mode():
        for idx, x in _iter_batches(imgs, batch_size, source):
            out[idx] = _probabilities(model, x, device).argmax(1).numpy().astype(np.uint8)
    return keep_largest_components(out.reshape(imgs.shape))


def segment_mapping_series(
    model: torch.nn.Module, images: np.ndarray, batch_size: int = 16, source: str = "images"
) -> np.ndarray:
    """One label map per slice for a mapping series, from all its weighted images.

    The softmax probabilities of the ``nt`` weighted images of a slice are averaged before the argmax
    (an ensemble over contrasts: images in which the myocardium is nulled or dark are outvoted), then
    the largest-component cleanup is applied.

    Parameters
    ----------
    images: float magnitude images ``(nt, nz, ny, nx)``, nt = weighted images.

    Returns
    -------
    uint8 labels ``(1, nz, ny, nx)`` (the layout of a mapping label NIfTI).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    imgs = check_series(images, source)
    nt, nz, ny, nx = imgs.shape
    device = get_device()
    model = model.to(device).eval()
    acc = torch.zeros((nz, N_CLASSES, ny, nx), dtype=torch.float32)
    with torch.inference_mode():
        for idx, x in _iter_batches(imgs, batch_size, source):
            prob = _probabilities(model, x, device)
            acc.index_add_(0, torch.from_numpy(idx % nz), prob)  # flat index = t * nz + z
    labels = (acc / nt).argmax(1).numpy().astype(np.uint8)[None]
    return keep_largest_components(labels)
