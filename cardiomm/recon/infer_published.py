"""Reconstruct a series with a published architecture (``cardiomm_official`` or ``promptmr``).

Both take ``F`` adjacent frames of one slice (circular in time with replication when the series has fewer
than ``F`` frames, as PromptMR+'s CMRxRecon dataset), and reconstruct the centre frame. The project's
k-space is ``(..., ny, nx)`` with phase-encoding lines along ``ny``; the published code expects the lines
along the last axis, so frames are transposed to ``(nx, ny)`` for the network and back.

Not verified here: the image orientation and intensity conventions of the data the published weights were
trained on (CMRxRecon 2024/2025 as the official loaders read it) against the project's; the networks are
positively homogeneous (scaling the k-space scales the output), so no intensity normalisation is applied.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from cardiomm.conventions import ACS_LINES, parse_mask_name
from cardiomm.device import get_device

__all__ = ["adjacent_frames", "acs_rule", "reconstruct_series_published"]


def adjacent_frames(t: int, nt: int, n: int) -> list[int]:
    """The ``n`` (odd) frames centred on ``t``, circular in time; replicated at the ends when ``nt < n``."""
    half = n // 2
    lo, hi = max(-half, -(nt // 2)), min(half + 1, nt // 2 + 1)
    idx = [(t + d) % nt for d in range(lo, hi)]
    return [idx[0]] * (lo + half) + idx + [idx[-1]] * (half + 1 - hi)


def acs_rule(arch: str, mask_name: str, acs_width: int = ACS_LINES) -> tuple[int, object]:
    """``(acs_lines, square_acs or acs_kind)`` of the official rule for a project mask name whose ACS is
    ``acs_width`` wide (the release's, :func:`cardiomm.io.releases.acs_lines`; ``Acquisition.acs_width``)."""
    pattern = parse_mask_name(mask_name).pattern
    radial = pattern in ("ktRadial", "Radial")
    if arch == "cardiomm_official":
        return int(acs_width), radial
    if arch == "promptmr":
        return int(acs_width), "square" if radial else "lines"
    raise ValueError(f"acs_rule: {arch!r} is not a published architecture")


def reconstruct_series_published(
    model: nn.Module,
    kus: np.ndarray,
    mask: np.ndarray,
    mask_name: str,
    meta: Mapping[str, object],
    clip_dir: str | os.PathLike | None = None,
    batch_size: int = 1,
    acs_width: int = ACS_LINES,
) -> np.ndarray:
    """Reconstruct every frame of a series.

    Parameters
    ----------
    model: :class:`~cardiomm.recon.networks.cardiomm_official.CardioMMOfficial` or
        :class:`~cardiomm.recon.networks.promptmr.PromptMR`.
    kus: complex ``(nt, nz, nc, ny, nx)`` undersampled k-space.
    mask: ``(nt, ny, nx)`` or ``(1, ny, nx)``, non-zero = sampled.
    mask_name: e.g. ``"ktGaussian8"`` (undersampling sentence and ACS rule).
    meta: scan metadata (``modality``, ``view``, ``vendor``, ``scanner``, ``field_strength_T``).
    clip_dir: the CLIP folder (``cardiomm_official`` only).
    batch_size: frames per forward pass.
    acs_width: ACS width of the mask (the release's; ``Acquisition.acs_width``).

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
    arch = getattr(model, "arch", None)
    acs_lines, acs_mode = acs_rule(str(arch), mask_name, acs_width)
    n_adj = int(model.config.num_adj_slices)
    device = get_device()
    model = model.to(device).eval()
    texts = None
    if arch == "cardiomm_official":
        from cardiomm.recon.text_prompts import ClipTextEncoder, sentences_for

        enc = ClipTextEncoder(clip_dir)
        if enc.dim != model.config.llm_model_dim:
            raise ValueError(f"CLIP folder {clip_dir}: text features have {enc.dim} dims, the network's heads "
                             f"expect llm_model_dim={model.config.llm_model_dim}")
        texts = enc.encode(list(sentences_for(meta, mask_name))).to(device)
    k_t = torch.from_numpy(np.ascontiguousarray(kus.transpose(0, 1, 2, 4, 3))).to(torch.complex64)
    m_t = torch.from_numpy(np.ascontiguousarray(mask.transpose(0, 2, 1)) > 0)
    out = np.zeros((nt, nz, ny, nx), dtype=np.float32)
    jobs = [(t, z) for z in range(nz) for t in range(nt)]
    with torch.inference_mode():
        for start in range(0, len(jobs), max(1, batch_size)):
            chunk = jobs[start: start + max(1, batch_size)]
            ks, ms = [], []
            for t, z in chunk:
                idx = adjacent_frames(t, nt, n_adj)
                ks.append(k_t[idx, z].reshape(n_adj * nc, nx, ny))
                ms.append(m_t[idx][:, None].expand(n_adj, nc, nx, ny).reshape(n_adj * nc, nx, ny))
            k = torch.stack(ks).to(device)
            m = torch.stack(ms).to(device)
            if texts is not None:
                b = len(chunk)
                img = model(k, m, acs_lines, acs_mode, texts[0:1].expand(b, -1), texts[1:2].expand(b, -1))
            else:
                img = model(k, m, acs_lines, acs_mode)
            for (t, z), frame in zip(chunk, img.float().cpu().numpy()):
                out[t, z] = frame.T
    return out
