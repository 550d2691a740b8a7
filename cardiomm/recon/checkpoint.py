"""Reconstruction checkpoints: one self-describing file per trained network.

A checkpoint is a ``torch.save`` dict (loadable with ``weights_only=True``)::

    format_version  int
    arch            "cardiomm" | "varnet"
    model_config    dict of the architecture's config dataclass
    state_dict      tensors (CPU)
    state_sha256    hex digest of the state (names, dtypes, shapes, bytes) to detect silent corruption
    train_config    dict or None
    metrics         dict or None
    extra           dict or None (e.g. provenance: data, command, seed)

Files are written atomically (temporary name + rename). :func:`load_model` raises :class:`CheckpointError`
naming the file when it is missing, truncated/corrupt, of another architecture, or does not fit.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cardiomm.atomic import atomic_path
from cardiomm.recon.networks.blocks import count_parameters
from cardiomm.recon.networks.cardiomm import CardioMM, CardioMMConfig
from cardiomm.recon.networks.varnet import VarNet, VarNetConfig

FORMAT_VERSION = 1
ARCHS: dict[str, tuple[type[nn.Module], type]] = {
    "cardiomm": (CardioMM, CardioMMConfig),
    "varnet": (VarNet, VarNetConfig),
}
_REQUIRED = ("format_version", "arch", "model_config", "state_dict", "state_sha256")

__all__ = ["ARCHS", "CheckpointError", "build_model", "count_parameters", "load_model", "make_config",
           "save_checkpoint", "state_sha256"]


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def make_config(arch: str, cfg: dict | None = None):  # noqa: ANN201 - CardioMMConfig | VarNetConfig
    """The config dataclass of ``arch`` from a (possibly partial) dict; unknown keys raise ``ValueError``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown model kind {arch!r}; known: {sorted(ARCHS)}")
    cls = ARCHS[arch][1]
    cfg = dict(cfg or {})
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(cfg) - names)
    if unknown:
        raise ValueError(f"unknown {arch} model config keys {unknown}; known: {sorted(names)}")
    return cls(**cfg)


def build_model(arch: str, cfg: dict | None = None) -> nn.Module:
    """A freshly initialised network of kind ``arch`` (``"cardiomm"`` or ``"varnet"``)."""
    config = make_config(arch, cfg)
    return ARCHS[arch][0](config)


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """Digest of a state dict: sorted names with dtype, shape and raw bytes of every tensor."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _plain(obj: object) -> object:
    """Make a config/metrics value safe for ``torch.load(weights_only=True)`` (no NumPy scalars, paths)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    train_config: dict | None = None,
    metrics: dict | None = None,
    extra: dict | None = None,
) -> str:
    """Atomically save ``model`` (a :class:`CardioMM` or :class:`VarNet`) with its config; returns the state digest."""
    arch = getattr(model, "arch", None)
    if arch not in ARCHS:
        raise ValueError(f"cannot save {type(model).__name__} to {path}: not one of {sorted(ARCHS)}")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    digest = state_sha256(state)
    payload = {
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "model_config": _plain(model.config.to_dict()),
        "state_dict": state,
        "state_sha256": digest,
        "train_config": _plain(train_config),
        "metrics": _plain(metrics),
        "extra": _plain(extra),
        "n_parameters": count_parameters(model),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return digest


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, validated for presence of the required keys and the state digest."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "checkpoint file does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "checkpoint file is empty (0 bytes)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError/UnpicklingError/EOFError/zip errors on corruption
        raise CheckpointError(path, f"cannot be read, truncated or corrupt ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _REQUIRED):
        have = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(path, f"not a cardiomm reconstruction checkpoint (needs keys {_REQUIRED}, has {have})")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise CheckpointError(path, f"format version {ckpt['format_version']} is newer than this code's "
                                    f"{FORMAT_VERSION}")
    digest = state_sha256(ckpt["state_dict"])
    if digest != ckpt["state_sha256"]:
        raise CheckpointError(path, f"state digest mismatch (stored {ckpt['state_sha256'][:12]}..., "
                                    f"computed {digest[:12]}...): the weights were altered or corrupted")
    return ckpt


def load_model(path: str | os.PathLike, arch: str | None = None) -> tuple[nn.Module, dict]:
    """Load a checkpoint into a fresh network (CPU, eval mode).

    Parameters
    ----------
    path: checkpoint file.
    arch: expected architecture (``"cardiomm"``/``"varnet"``); ``None`` accepts either.

    Returns
    -------
    ``(model, meta)`` where ``meta`` holds every checkpoint key except ``state_dict``.

    Raises
    ------
    CheckpointError: missing, empty, truncated or corrupt file; digest mismatch; another architecture than
        ``arch``; a config or state that does not fit the architecture.
    """
    ckpt = read_checkpoint(path)
    found = ckpt["arch"]
    if arch is not None and found != arch:
        raise CheckpointError(path, f"holds a {found!r} network, but a {arch!r} network was asked for")
    if found not in ARCHS:
        raise CheckpointError(path, f"unknown architecture {found!r}; known: {sorted(ARCHS)}")
    try:
        model = build_model(found, ckpt["model_config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(path, f"model config does not fit {found!r}: {err}") from None
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as err:
        msg = str(err).replace("\n", " ")
        raise CheckpointError(path, f"state does not fit the {found!r} architecture: {msg[:600]}") from None
    model.eval()
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    return model, meta
