"""The typed network input: one frame (or a batch of frames) as the reconstruction networks receive it.

Built by :func:`cardiomm.recon.learned.data.prepare_frame` (training and inference alike) and batched by
:func:`collate_samples`; the networks (:mod:`cardiomm.recon.learned.networks`) take a :class:`FrameSample` and the
data-consistency operator (:class:`cardiomm.physics.sense.SenseOp`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch

from cardiomm.physics.coils import rss
from cardiomm.physics.fft import ifft2c

NORM_QUANTILE = 0.99
#: the name our trainer stores in a checkpoint's ``extra["input_normalisation"]`` for the published architectures:
#: their k-space was divided by :func:`normalisation_scale` of the centre frame (as for every network we train)
INPUT_NORMALISATION = "zero_filled_rss_q99"


def normalisation_scale(kus: torch.Tensor) -> torch.Tensor:
    """Intensity scale of an undersampled frame: the 99th percentile of its zero-filled RSS image.

    Parameters
    ----------
    kus: complex ``(..., C, H, W)`` undersampled k-space (zeros where not sampled).

    Returns
    -------
    float ``(...)``; 1 where the frame is empty. ``scale(a * k) = |a| scale(k)``, so dividing by it makes
    the network input scale-free and multiplying the output by it restores the input's units.
    """
    img = rss(ifft2c(kus))
    q = torch.quantile(img.flatten(-2), NORM_QUANTILE, dim=-1)
    return torch.where(q > 0, q, torch.ones_like(q))


def series_scale(kus: torch.Tensor) -> torch.Tensor:
    """Intensity scale of an undersampled series: the 99th percentile of the zero-filled RSS of all its frames.

    Parameters
    ----------
    kus: complex ``(T, C, H, W)`` undersampled k-space of one slice (zeros where not sampled).

    Returns
    -------
    float ``()``; 1 for an empty series; ``series_scale(a * k) = |a| series_scale(k)``. One scale for every frame,
    so the series networks see the frames' relative intensities (a mapping series' signal decay).
    """
    img = rss(ifft2c(kus)).flatten()
    if img.numel() > 2**24 - 1:  # torch.quantile's limit: every 2nd pixel of a huge series
        img = img[:: -(-img.numel() // (2**24 - 1))]
    q = torch.quantile(img, NORM_QUANTILE)
    return torch.where(q > 0, q, torch.ones_like(q))



@dataclass(frozen=True)
class FrameSample:
    """Network inputs of one frame; after :func:`collate_samples` every field gains a leading batch axis ``B``.

    Attributes
    ----------
    kspace: complex64 ``(C, H, W)`` normalised undersampled k-space (zero outside the mask), H = phase encoding.
    mask: float32 ``(1, H, W)``, 1 = sampled.
    acs: bool ``(1, H, W)`` ACS region (intersected with the mask).
    scale: float32 ``()`` normalisation scale (multiply the output by it to restore the input's units).
    scan_tokens: long ``(5,)`` (:func:`cardiomm.recon.learned.prompts.encode_scan`), ``None`` if unknown.
    us_tokens: long ``(2,)``; us_cont: float32 ``(1,)`` = log2(R) (:func:`encode_undersampling`).
    context: complex64 ``(2k, H, W)`` zero-filled neighbouring frames (``temporal_context = k > 0``), else ``None``.
    target: float32 ``(H, W)`` normalised RSS of the fully sampled frame (training), else ``None``.
    adjacent: complex64 ``(F, C, H, W)`` the ``F`` adjacent frames' normalised undersampled k-space, centre frame
        in the middle (the published architectures' input;
        :func:`cardiomm.recon.learned.infer_published.adjacent_frames`),
        else ``None``; adjacent_mask: float32 ``(F, H, W)`` their masks.
    square_acs: bool ``()`` the mask's ACS is a square (radial patterns), not lines; acs_width: long ``()`` its width.
    text: float32 ``(2, D)`` text features of the metadata and undersampling sentences (``cardiomm_official``).
    circular: bool ``()`` a series sample's time is periodic (cine), else ``None``.

    A **series sample** (:func:`cardiomm.recon.learned.data.prepare_series`, the input of the series networks such as
    :class:`~cardiomm.recon.learned.networks.ktnet.KTNet`) holds every frame of one slice: ``adjacent`` ``(T, C, H,
    W)`` and ``adjacent_mask`` ``(T, H, W)`` in time order, ``target`` ``(T, H, W)``, one ``scale`` for the series,
    ``kspace`` / ``mask`` its time-averaged sampled data and the union of its masks, and ``circular``.
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    acs: torch.Tensor
    scale: torch.Tensor
    scan_tokens: torch.Tensor | None = None
    us_tokens: torch.Tensor | None = None
    us_cont: torch.Tensor | None = None
    context: torch.Tensor | None = None
    target: torch.Tensor | None = None
    adjacent: torch.Tensor | None = None
    adjacent_mask: torch.Tensor | None = None
    square_acs: torch.Tensor | None = None
    acs_width: torch.Tensor | None = None
    text: torch.Tensor | None = None
    circular: torch.Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> FrameSample:
        """Every tensor field moved to ``device``."""
        return replace(self, **{f.name: v.to(device, non_blocking=non_blocking) for f in fields(self)
                                if (v := getattr(self, f.name)) is not None})

    def replace(self, **changes: torch.Tensor | None) -> FrameSample:
        """A copy with some fields changed (:func:`dataclasses.replace`)."""
        return replace(self, **changes)


def collate_samples(samples: Sequence[FrameSample]) -> FrameSample:
    """Stack frames into a batch (``collate_fn`` of the training loaders); a field is ``None`` in the batch when it
    is ``None`` in every frame, and an error when only some frames have it."""
    if not samples:
        raise ValueError("collate_samples: no samples")
    out = {}
    for f in fields(FrameSample):
        vals = [getattr(s, f.name) for s in samples]
        if all(v is None for v in vals):
            out[f.name] = None
        elif any(v is None for v in vals):
            raise ValueError(f"collate_samples: field {f.name!r} is missing in some samples of the batch")
        else:
            out[f.name] = torch.stack(vals)
    return FrameSample(**out)
