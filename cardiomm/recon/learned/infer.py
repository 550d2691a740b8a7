"""Batched inference of a trained reconstruction network (CardioMM, VarNet, k-t Net) over a whole series.

A series network (:class:`~cardiomm.recon.learned.networks.ktnet.KTNet`) gets each slice's whole series, prepared
as in training (:func:`cardiomm.recon.learned.data.prepare_series`). Every other network's frame is prepared
exactly as in training (:func:`cardiomm.recon.learned.data.prepare_frame`: zero-filled scale, ACS region,
optional temporal context) and run in batches under ``torch.inference_mode`` on
:func:`cardiomm.device.get_device` with :func:`cardiomm.device.autocast`, and multiplied back by its scale so
the magnitude is in the units of the RSS of the fully sampled reference.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cardiomm.acquisition import Acquisition
from cardiomm.conventions import modality
from cardiomm.device import autocast, get_device
from cardiomm.methods import ReconParams, Reconstructor
from cardiomm.recon.learned.architectures import is_series
from cardiomm.recon.learned.data import prepare_frame, prepare_series
from cardiomm.recon.learned.prompts import encode_mask_name, encode_scan
from cardiomm.recon.learned.sample import collate_samples


def reconstruct_series(model: nn.Module, acq: Acquisition, batch_size: int = 8) -> np.ndarray:
    """Reconstruct every frame of an undersampled series.

    Parameters
    ----------
    model: a :class:`~cardiomm.recon.learned.networks.cardiomm.CardioMM`,
        :class:`~cardiomm.recon.learned.networks.varnet.VarNet` or
        :class:`~cardiomm.recon.learned.networks.ktnet.KTNet` (e.g. from
        :func:`cardiomm.recon.learned.model_files.load_model`).
    acq: the validated acquisition: k-space ``(nt, nz, nc, ny, nx)``, mask, ACS region, mask name (the
        undersampling prompt) and ``meta`` (``modality`` required: ``cine``/``t1map``/``t2map``/``t1rhomap``;
        ``view``, ``vendor``, ``scanner``, ``field_strength_T``, ``centre``: unknown values are accepted).
    batch_size: frames per forward pass.

    Returns
    -------
    float32 ``(nt, nz, ny, nx)`` magnitude, in the units of the RSS of the fully sampled coil images.
    """
    kus, mask, meta, mask_name = acq.kspace, acq.mask, acq.meta, acq.mask_name
    nt, nz, nc, ny, nx = kus.shape
    if batch_size < 1:
        raise ValueError(f"reconstruct_series: batch_size must be >= 1, got {batch_size}")
    if "modality" not in meta:
        raise KeyError(f"reconstruct_series: {acq.source}: meta needs 'modality' (cine, t1map, t2map or t1rhomap)")
    kind = modality(str(meta["modality"])).kind
    kctx = int(getattr(getattr(model, "config", None), "temporal_context", 0))

    scan = torch.tensor(encode_scan(meta), dtype=torch.long)
    us_tok, us_cont = encode_mask_name(acq.mask_spec or mask_name, mask)  # parsed once, by the Acquisition
    us = torch.tensor(us_tok, dtype=torch.long)
    cont = torch.tensor([us_cont], dtype=torch.float32)
    acs_t = torch.from_numpy(acq.acs)
    mask_t = torch.from_numpy(np.array(mask, dtype=np.uint8))  # a writable copy

    device = get_device()
    model = model.to(device).eval()
    out = np.zeros((nt, nz, ny, nx), dtype=np.float32)
    if is_series(model):  # a series network: every frame of a slice in one pass
        with torch.inference_mode():
            for z in range(nz):
                kz = torch.from_numpy(np.ascontiguousarray(kus[:, z])).to(torch.complex64)
                b = collate_samples([prepare_series(kz, mask_t, acs_t, kind)]).to(device)
                with autocast(device):
                    img = model(b)
                out[:, z] = (img.abs().float()[0] * b.scale.float()[0]).cpu().numpy()
        return out
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
            n = len(frames)
            b = collate_samples(frames).replace(scan_tokens=scan.expand(n, -1), us_tokens=us.expand(n, -1),
                                                us_cont=cont.expand(n, -1)).to(device)
            with autocast(device):
                img = model(b)
            mag = (img.abs().float() * b.scale.float()[:, None, None]).cpu().numpy()
            for (t, z), m in zip(chunk, mag):
                out[t, z] = m
    return out


def method(name: str, params: ReconParams) -> Reconstructor:
    """The registry entry of a network trained by this pipeline (``cardiomm``, ``varnet``): its checkpoint
    ``params.model_path`` loaded once (:func:`cardiomm.recon.learned.model_files.load_model`, refused if it holds
    another method's network)."""
    from cardiomm.recon.learned.model_files import load_model

    model, _ = load_model(params.model_path, arch=name)

    def rec(acq: Acquisition) -> np.ndarray:
        return reconstruct_series(model, acq)

    return rec
