"""Batched inference of a trained reconstruction network (CardioMM or VarNet) over a whole series.

Every frame is prepared exactly as in training (:func:`cardiomm.recon.data.prepare_frame`: zero-filled
scale, ACS region, optional temporal context), run in batches under ``torch.inference_mode`` on
:func:`cardiomm.device.get_device` with :func:`cardiomm.device.autocast`, and multiplied back by its scale so
the magnitude is in the units of the RSS of the fully sampled reference.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from cardiomm.conventions import ACS_LINES, modality
from cardiomm.device import autocast, get_device
from cardiomm.recon.data import prepare_frame
from cardiomm.recon.prompts import encode_mask_name, encode_scan


def acs_from_mask(mask: np.ndarray, acs: int = ACS_LINES) -> np.ndarray:
    """ACS region of an arbitrary mask, for masks whose name does not say it.

    Parameters
    ----------
    mask: ``(nt, ny, nx)``, non-zero = sampled.
    acs: the largest ACS width to look for.

    Returns
    -------
    bool ``(ny, nx)``: the central block of whole phase-encoding lines sampled in every frame (line masks);
    if the central line is not whole, the largest centred square sampled in every frame (radial-like masks);
    at most ``acs`` lines/pixels wide, grown symmetrically around ``(ny // 2, nx // 2)``.
    """
    always = np.all(np.asarray(mask) > 0, axis=0)  # (ny, nx)
    ny, nx = always.shape
    cy = ny // 2
    region = np.zeros((ny, nx), dtype=bool)

    def grow(ok) -> int:  # noqa: ANN001 - callable(width) -> bool
        w = 0
        while w < acs and ok(w + 1):
            w += 1
        return w

    def central(n: int, w: int) -> slice:
        return slice(n // 2 - w // 2, n // 2 - w // 2 + w)

    full_rows = always.all(axis=1)
    w = grow(lambda v: 0 <= cy - v // 2 and cy - v // 2 + v <= ny and full_rows[central(ny, v)].all())
    if w:
        region[central(ny, w)] = True
        return region
    w = grow(lambda v: v <= min(ny, nx) and always[central(ny, v), central(nx, v)].all())
    region[central(ny, w), central(nx, w)] = True
    return region


def _acs_region(mask_name: str, mask: np.ndarray, acs: int) -> np.ndarray:
    ny, nx = mask.shape[-2:]
    try:
        from cardiomm.sampling.masks import acs_mask

        region = acs_mask(mask_name, ny, nx, acs=acs)
    except (ImportError, ValueError):  # custom mask name (or no sampling module): measure it
        region = acs_from_mask(mask, acs)
    return region


def reconstruct_series(
    model: nn.Module,
    kus: np.ndarray,
    mask: np.ndarray,
    mask_name: str,
    meta: Mapping[str, object],
    batch_size: int = 8,
    acs: int = ACS_LINES,
) -> np.ndarray:
    """Reconstruct every frame of an undersampled series.

    Parameters
    ----------
    model: a :class:`~cardiomm.recon.networks.cardiomm.CardioMM` or
        :class:`~cardiomm.recon.networks.varnet.VarNet` (e.g. from :func:`cardiomm.recon.checkpoint.load_model`).
    kus: complex64 ``(nt, nz, nc, ny, nx)`` undersampled k-space (values outside ``mask`` are ignored).
    mask: ``(nt, ny, nx)`` (or ``(1, ny, nx)``, shared by all frames), non-zero = sampled.
    mask_name: e.g. ``"ktGaussian16"``; gives the undersampling prompt and the ACS region.
    meta: scan metadata: ``modality`` (required: ``cine``/``t1map``/``t2map``/``t1rhomap``), ``view``,
        ``vendor``, ``scanner``, ``field_strength_T``, ``centre``; unknown values are accepted.
    batch_size: frames per forward pass.
    acs: ACS width the mask was generated with.

    Returns
    -------
    float32 ``(nt, nz, ny, nx)`` magnitude, in the units of the RSS of the fully sampled coil images.
    """
    kus = np.asarray(kus)
    if kus.ndim != 5 or not np.iscomplexobj(kus):
        raise ValueError(f"reconstruct_series: kus must be complex (nt, nz, nc, ny, nx), got {kus.dtype} {kus.shape}")
    nt, nz, nc, ny, nx = kus.shape
    mask = np.asarray(mask)
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3 or mask.shape[-2:] != (ny, nx) or mask.shape[0] not in (1, nt):
        raise ValueError(f"reconstruct_series: mask must be (nt={nt}, ny={ny}, nx={nx}), got {mask.shape}")
    mask = np.broadcast_to(mask, (nt, ny, nx))
    if batch_size < 1:
        raise ValueError(f"reconstruct_series: batch_size must be >= 1, got {batch_size}")
    if "modality" not in meta:
        raise KeyError("reconstruct_series: meta needs 'modality' (cine, t1map, t2map or t1rhomap)")
    kind = modality(str(meta["modality"])).kind
    kctx = int(getattr(getattr(model, "config", None), "temporal_context", 0))

    scan = torch.tensor(encode_scan(meta), dtype=torch.long)
    us_tok, us_cont = encode_mask_name(mask_name, mask)
    us = torch.tensor(us_tok, dtype=torch.long)
    cont = torch.tensor([us_cont], dtype=torch.float32)
    acs_t = torch.from_numpy(_acs_region(mask_name, mask, acs))
    mask_t = torch.from_numpy(np.array(mask, dtype=np.uint8))  # a writable copy

    device = get_device()
    model = model.to(device).eval()
    out = np.zeros((nt, nz, ny, nx), dtype=np.float32)
    jobs = [(t, z) for z in range(nz) for t in range(nt)]
    with torch.inference_mode():
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start: start + batch_size]
            frames = []
            slices: dict[int, torch.Tensor] = {}
            for t, z in chunk:
                if z not in slices:
                    slices[z] = torch.from_numpy(np.ascontiguousarray(kus[:, z])).to(torch.complex64)
                frames.append(prepare_frame(slices[z], mask_t, t, acs_t, kctx, kind))
            b = {k: torch.stack([f[k] for f in frames]).to(device) for k in frames[0]}
            n = len(frames)
            with autocast(device):
                img = model(b["kspace"], b["mask"], b["acs"], scan.expand(n, -1).to(device),
                            us.expand(n, -1).to(device), cont.expand(n, -1).to(device), b.get("context"))
            mag = (img.abs().float() * b["scale"].float()[:, None, None]).cpu().numpy()
            for (t, z), m in zip(chunk, mag):
                out[t, z] = m
    return out
