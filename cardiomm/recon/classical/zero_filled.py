"""Zero-filled reconstruction: inverse FFT of the (masked) k-space, root-sum-of-squares over coils.

Applied to fully sampled k-space this is the reference image of the whole pipeline (the CMRxRecon
ground truth is the RSS of the fully sampled coil images): the one function that makes it, for the reference
rule (:func:`cardiomm.stages.recon.reference`) and for the segmenter's training images
(:func:`cardiomm.segmentation.data.build_training_pairs`), so training and inference see the same image.
"""

from __future__ import annotations

import numpy as np
import torch

from cardiomm.acquisition import Acquisition
from cardiomm.methods import ReconParams, Reconstructor
from cardiomm.physics.coils import rss
from cardiomm.physics.fft import ifft2c


def zero_filled(kus: np.ndarray) -> np.ndarray:
    """RSS magnitude of the inverse FFT of multi-coil k-space (unsampled points stay zero).

    Parameters
    ----------
    kus: complex ``(nt, nz, nc, ny, nx)`` k-space, masked or fully sampled, DC at ``(ny // 2, nx // 2)``.

    Returns
    -------
    float32 ``(nt, nz, ny, nx)`` magnitude image, in the k-space's intensity units (orthonormal FFT).
    """
    k = np.asarray(kus)
    if k.ndim != 5:
        raise ValueError(f"zero_filled: k-space must be (nt, nz, nc, ny, nx), got shape {k.shape}")
    if not np.iscomplexobj(k):
        raise ValueError(f"zero_filled: k-space must be complex, got dtype {k.dtype}")
    if not np.isfinite(k).all():
        raise ValueError(f"zero_filled: k-space contains {int((~np.isfinite(k)).sum())} NaN/Inf values")
    # one frame at a time bounds the memory to one frame's coil images (bit-identical to the whole series at once);
    # from_numpy shares memory; ifft2c allocates its output, so the caller's array is never modified
    out = np.empty((k.shape[0], k.shape[1], *k.shape[-2:]), dtype=np.float32)
    for t in range(k.shape[0]):
        out[t] = rss(ifft2c(torch.from_numpy(np.ascontiguousarray(k[t]))), dim=-3).numpy()
    return out


def method(name: str, params: ReconParams) -> Reconstructor:
    """The registry entry of ``zerofilled``: RSS of the inverse FFT of the undersampled k-space (the reference's
    function on masked data)."""

    def rec(acq: Acquisition) -> np.ndarray:
        return zero_filled(acq.kspace)

    return rec


def rescan_method(name: str, params: ReconParams) -> Reconstructor:
    """The registry entry of the null control (kind ``control``): RSS of a second, fully sampled acquisition,
    made exactly as the reference is (:func:`zero_filled` of the full k-space). A mask with an unsampled point
    raises: a control is never undersampled."""

    def rec(acq: Acquisition) -> np.ndarray:
        if not acq.mask.all():
            raise ValueError(f"{acq.source}: method {name!r} needs a fully sampled acquisition; the mask samples "
                             f"{acq.mask.mean():.1%} of k-space")
        return zero_filled(acq.kspace)

    return rec
