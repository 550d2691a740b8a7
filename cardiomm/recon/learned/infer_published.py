"""Reconstruct a series with a published architecture (a registered method with a
:class:`~cardiomm.recon.learned.published.PublishedPort`: the official CardioMM, PromptMR+).

Both take ``F`` adjacent frames of one slice (circular in time with replication when the series has fewer
than ``F`` frames, as PromptMR+'s CMRxRecon dataset), and reconstruct the centre frame. The project's
k-space is ``(..., ny, nx)`` with phase-encoding lines along ``ny``; the published code expects the lines
along the last axis, so frames are transposed to ``(nx, ny)`` for the network and back.

Intensity. The official code feeds the k-space as its loaders read it, with no intensity normalisation (the
networks standardise each U-Net input themselves and are positively homogeneous: scaling the k-space scales the
output), so released weights run on the acquisition's k-space unchanged. The checkpoints *we* train are trained
on k-space divided by our zero-filled 99th-percentile scale (:func:`cardiomm.recon.learned.data.normalisation_scale` of
the centre frame, as for every network we train); the trainer stores that in the checkpoint
(``extra["input_normalisation"]``, :data:`cardiomm.recon.learned.data.INPUT_NORMALISATION`), and inference then divides
by the same scale and multiplies the output back (:func:`input_normalised`), so the network sees at inference
exactly what it saw in training. Not verified here: the image orientation and intensity conventions of the data
the published weights were trained on (CMRxRecon 2024/2025 as the official loaders read it) against the
project's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from cardiomm.acquisition import Acquisition
from cardiomm.conventions import ACS_LINES, MaskName
from cardiomm.device import get_device
from cardiomm.methods import ReconParams, Reconstructor
from cardiomm.recon.learned.architectures import arch_of
from cardiomm.recon.learned.published import port
from cardiomm.recon.learned.sample import INPUT_NORMALISATION, normalisation_scale

__all__ = ["adjacent_frames", "acs_rule", "input_normalised", "method", "network_input", "published_forward",
           "reconstruct_series_published", "square_acs"]


def adjacent_frames(t: int, nt: int, n: int) -> list[int]:
    """The ``n`` (odd) frames centred on ``t``, circular in time; replicated at the ends when ``nt < n``."""
    half = n // 2
    lo, hi = max(-half, -(nt // 2)), min(half + 1, nt // 2 + 1)
    idx = [(t + d) % nt for d in range(lo, hi)]
    return [idx[0]] * (lo + half) + idx + [idx[-1]] * (half + 1 - hi)


def acs_rule(arch: str, mask_name: str | MaskName, acs_width: int = ACS_LINES) -> tuple[int, bool]:
    """``(acs_lines, square)`` of the official rule for a project mask name whose ACS is ``acs_width`` wide (the
    release's, :func:`cardiomm.io.releases.acs_lines`; ``Acquisition.acs_width``): both published models take
    the square 2D ACS for the radial patterns and ACS lines otherwise (``square_acs`` of ``cardiomm_official``,
    ``acs_kind`` ``"square"``/``"lines"`` of ``promptmr``, set by :func:`published_forward`)."""
    if port(arch) is None:
        raise ValueError(f"acs_rule: {arch!r} is not a published architecture")
    return int(acs_width), square_acs(mask_name)


def input_normalised(meta: Mapping[str, object]) -> bool:
    """Whether a loaded checkpoint's network takes normalised k-space (``meta`` from
    :func:`cardiomm.recon.learned.model_files.load_any`): ``True`` for our trained checkpoints, which record
    ``extra["input_normalisation"] = INPUT_NORMALISATION``; ``False`` for released official weights (no such
    record), which run on raw k-space as the official code runs them. Another recorded value is refused."""
    extra = meta.get("extra") or {}
    value = extra.get("input_normalisation") if isinstance(extra, Mapping) else None
    if value is None:
        return False
    if value != INPUT_NORMALISATION:
        raise ValueError(f"checkpoint records input_normalisation={value!r}; this code knows only "
                         f"{INPUT_NORMALISATION!r} (or none, for released weights)")
    return True


def square_acs(mask_name: str | MaskName) -> bool:
    """Whether a project mask's ACS is a square (the radial patterns), not lines."""
    return MaskName.of(mask_name).radial


def network_input(k: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The published networks' layout of adjacent frames (training and inference alike).

    ``k`` complex ``(B, F, C, ny, nx)`` and ``mask`` ``(B, F, ny, nx)`` (project layout) -> k-space
    ``(B, F*C, nx, ny)`` frame-major with the phase-encoding lines last, and the bool mask expanded to it.
    """
    B, F, C, ny, nx = k.shape
    kt = k.transpose(-1, -2).reshape(B, F * C, nx, ny)
    mt = (mask > 0).transpose(-1, -2)[:, :, None].expand(B, F, C, nx, ny).reshape(B, F * C, nx, ny)
    return kt, mt


def published_forward(model: nn.Module, k: torch.Tensor, mask: torch.Tensor, acs_lines: int, square: bool,
                      texts: torch.Tensor | None = None) -> torch.Tensor:
    """One call of a published network on :func:`network_input`'s tensors, through its port's call; ``texts``
    ``(B, 2, D)`` (metadata, undersampling) for a port that takes text features. Returns the RSS magnitude
    ``(B, ny, nx)`` in the project layout."""
    arch = arch_of(model)
    p = port(arch)
    if p is None:
        raise ValueError(f"published_forward: {arch!r} is not a published architecture")
    return p.call(model, k, mask, acs_lines, square, texts).transpose(-1, -2)


def reconstruct_series_published(
    model: nn.Module,
    kus: np.ndarray,
    mask: np.ndarray,
    mask_name: str | MaskName,
    meta: Mapping[str, object],
    clip_dir: str | os.PathLike | None = None,
    batch_size: int = 1,
    acs_width: int = ACS_LINES,
    normalise: bool = False,
) -> np.ndarray:
    """Reconstruct every frame of a series.

    Parameters
    ----------
    model: :class:`~cardiomm.recon.learned.networks.cardiomm_official.CardioMMOfficial` or
        :class:`~cardiomm.recon.learned.networks.promptmr.PromptMR`.
    kus: complex ``(nt, nz, nc, ny, nx)`` undersampled k-space.
    mask: ``(nt, ny, nx)`` or ``(1, ny, nx)``, non-zero = sampled.
    mask_name: e.g. ``"ktGaussian8"`` (undersampling sentence and ACS rule).
    meta: scan metadata (``modality``, ``view``, ``vendor``, ``scanner``, ``field_strength_T``).
    clip_dir: the CLIP folder (for a port that takes text features).
    batch_size: frames per forward pass.
    acs_width: ACS width of the mask (the release's; ``Acquisition.acs_width``).
    normalise: divide each frame's input by the training scale (:func:`normalisation_scale` of the centre frame)
        and multiply the output back; ``True`` for our trained checkpoints, ``False`` (the official convention)
        for released weights (:func:`input_normalised`).

    Returns
    -------
    float32 ``(nt, nz, ny, nx)`` RSS magnitude in the units of ``kus``'s coil images.
    """
    kus = np.asarray(kus)
    if kus.ndim != 5 or not np.iscomplexobj(kus):
        raise ValueError(f"reconstruct_series_published: kus must be complex (nt, nz, nc, ny, nx), got {kus.shape}")
    nt, nz, nc, ny, nx = kus.shape
    mask = np.asarray(mask)
    mask = mask[None] if mask.ndim == 2 else mask
    if mask.ndim != 3 or mask.shape[-2:] != (ny, nx) or mask.shape[0] not in (1, nt):
        raise ValueError(f"reconstruct_series_published: mask must be (nt={nt}, {ny}, {nx}), got {mask.shape}")
    mask = np.broadcast_to(mask, (nt, ny, nx))
    arch = arch_of(model)
    acs_lines, square = acs_rule(arch, mask_name, acs_width)
    n_adj = int(model.config.num_adj_slices)
    device = get_device()
    model = model.to(device).eval()
    texts = None
    if port(arch).texts:
        from cardiomm.recon.learned.text_prompts import ClipTextEncoder, sentences_for

        enc = ClipTextEncoder(clip_dir)
        if enc.dim != model.config.llm_model_dim:
            raise ValueError(f"CLIP folder {clip_dir}: text features have {enc.dim} dims, the network's heads "
                             f"expect llm_model_dim={model.config.llm_model_dim}")
        texts = enc.encode(list(sentences_for(meta, mask_name))).to(device)
    k_t = torch.from_numpy(np.ascontiguousarray(kus)).to(torch.complex64)
    m_t = torch.from_numpy(np.ascontiguousarray(mask) > 0)
    out = np.zeros((nt, nz, ny, nx), dtype=np.float32)
    jobs = [(t, z) for z in range(nz) for t in range(nt)]
    with torch.inference_mode():
        for start in range(0, len(jobs), max(1, batch_size)):
            chunk = jobs[start: start + max(1, batch_size)]
            idx = [adjacent_frames(t, nt, n_adj) for t, _ in chunk]
            k_adj = torch.stack([k_t[i, z] for i, (_, z) in zip(idx, chunk)])  # (B, F, C, ny, nx)
            if normalise:  # as the training samples (recon.learned.data.FrameDataset with adjacent frames)
                zero = torch.zeros((), dtype=k_t.dtype)
                scale = torch.stack([normalisation_scale(torch.where(m_t[t], k_t[t, z], zero)) for t, z in chunk])
                k_adj = k_adj / scale[:, None, None, None, None]
            k, m = network_input(k_adj, torch.stack([m_t[i] for i in idx]))
            text = None if texts is None else texts[None].expand(len(chunk), -1, -1)
            img = published_forward(model, k.to(device), m.to(device), acs_lines, square, text)
            if normalise:
                img = img * scale.to(img.device)[:, None, None]
            for (t, z), frame in zip(chunk, img.float().cpu().numpy()):
                out[t, z] = frame
    return out


def method(name: str, params: ReconParams) -> Reconstructor:
    """The registry entry of a published architecture, loaded once, with released weights or ours
    (:func:`cardiomm.recon.learned.model_files.load_any`); the ACS width is the acquisition's (the release's, like the
    other methods); the intensity normalisation is the checkpoint's (:func:`input_normalised`)."""
    from cardiomm.recon.learned.model_files import load_any

    pub = dict(params.published or {})
    own = pub.get(name) or {}
    model, meta = load_any(params.model_path, name, own.get("model_config"))
    normalise = input_normalised(meta)  # our trained checkpoints: as in training; released weights: as released

    def rec(acq: Acquisition) -> np.ndarray:
        return reconstruct_series_published(model, acq.kspace, acq.mask, acq.mask_spec or acq.mask_name, dict(acq.meta),
                                            pub.get("clip_dir"), own.get("batch_size", 1), acq.acs_width,
                                            normalise)

    return rec
