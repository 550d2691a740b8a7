"""The reconstruction networks' files: our self-describing checkpoint, and the published architectures' own files.

A checkpoint is a ``torch.save`` dict (loadable with ``weights_only=True``)::

    format_version  int
    arch            the method name of the network (:mod:`cardiomm.methods`, e.g. its neural methods)
    model_config    dict of the architecture's config dataclass
    state_dict      tensors (CPU)
    state_sha256    hex digest of the state (names, dtypes, shapes, bytes) to detect silent corruption
    train_config    dict or None
    metrics         dict or None
    extra           dict or None (e.g. provenance: data, command, seed)

Files are written atomically (temporary name + rename). :func:`load_model` raises :class:`CheckpointError`
naming the file when it is missing, truncated/corrupt, of another architecture, or does not fit.

Third-party checkpoints of the published architectures (the official CardioMM Lightning ``.ckpt``, the released
PromptMR+ ``.ckpt``, or a plain state dict of either; their layouts are their ports',
:mod:`cardiomm.recon.learned.published`) are read by :func:`load_published`: ``torch.load(weights_only=True)``
with an explicit allow-list of the few Python types such Lightning files hold (:data:`LIGHTNING_SAFE_GLOBALS`),
never a general unpickle; the state is checked key by key against the architecture and loaded with
``strict=True``. :func:`load_any` reads either format.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import pickle
import re
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cardiomm.atomic import atomic_path
from cardiomm.checkpoint import state_sha256  # the one state digest (re-exported)
from cardiomm.recon.learned.architectures import ARCHS, arch_of, build_model, config_class
from cardiomm.recon.learned.networks.blocks import count_parameters
from cardiomm.recon.learned.published import port, published

FORMAT_VERSION = 1
_REQUIRED = ("format_version", "arch", "model_config", "state_dict", "state_sha256")

__all__ = ["CheckpointError", "LIGHTNING_SAFE_GLOBALS", "load_any", "load_model", "load_published",
           "read_checkpoint", "read_weights_only", "save_checkpoint", "state_sha256"]


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


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
    """Atomically save ``model`` (a network of a registered method) with its config; returns the state digest."""
    arch = arch_of(model)
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


def _existing_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path; :class:`CheckpointError` if it does not exist or is empty."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "checkpoint file does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "checkpoint file is empty (0 bytes)")
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, validated for presence of the required keys and the state digest."""
    path = _existing_file(path)
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
    arch: expected architecture (a method name); ``None`` accepts any.

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


# ---------------------------------------------------------------------------------------------
# Third-party checkpoints of the published architectures
# ---------------------------------------------------------------------------------------------


#: the only non-builtin types a published Lightning checkpoint may make ``torch.load`` rebuild
LIGHTNING_SAFE_GLOBALS: list = [
    # Lightning's AttributeDict (a dict subclass holding ``hyper_parameters``) is rebuilt as a plain dict
    (dict, "pytorch_lightning.utilities.parsing.AttributeDict"),
    (dict, "lightning.fabric.utilities.data.AttributeDict"),
    (dict, "lightning_fabric.utilities.data.AttributeDict"),
    (dict, "lightning.pytorch.utilities.parsing.AttributeDict"),
    argparse.Namespace,
    pathlib.PosixPath,
    (pathlib.PosixPath, "pathlib._local.PosixPath"),
    pathlib.WindowsPath,
    (pathlib.WindowsPath, "pathlib._local.WindowsPath"),
]


def _allowed_names() -> list[str]:
    return sorted({g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}"
                   for g in LIGHTNING_SAFE_GLOBALS})


def read_weights_only(path: str | os.PathLike) -> object:
    """``torch.load(path, weights_only=True)`` with :data:`LIGHTNING_SAFE_GLOBALS`; refusals name the type.

    Raises
    ------
    CheckpointError: missing/empty/corrupt file, or a pickle that needs a type outside the allow-list.
    """
    path = _existing_file(path)
    try:
        with torch.serialization.safe_globals(LIGHTNING_SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found:
            raise CheckpointError(path, f"refused: unpickling it needs the Python type {found.group(1)}, which is "
                                        f"not on the allow-list {_allowed_names()} (a general unpickle, "
                                        "weights_only=False, is never done). In an environment you trust, save "
                                        "its state dict alone: torch.save(torch.load(f, weights_only=False)"
                                        "['state_dict'], 'plain.pt')") from None
        raise CheckpointError(path, f"cannot be read, truncated or corrupt (UnpicklingError: {err})") from None
    except Exception as err:  # noqa: BLE001 - zip/EOF/runtime errors of a damaged file
        raise CheckpointError(path, f"cannot be read, truncated or corrupt ({type(err).__name__}: {err})") from None


def _first(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f" (and {len(keys) - n} more)" if len(keys) > n else "")


def _guess_arch(keys: list[str]) -> str | None:
    for arch in published():
        if any(k.startswith(port(arch).signature) for k in keys):
            return arch
    return None


def _published_state(path: Path, obj: object, arch: str) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """``(network state with the port's key layout, hyper-parameters, ignored {prefix: count})``."""
    spec = port(arch)
    hparams: dict = {}
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        hp = obj.get("hyper_parameters") or {}
        hparams = dict(vars(hp)) if isinstance(hp, argparse.Namespace) else dict(hp)
        state = dict(obj["state_dict"])
    elif isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = dict(obj)
    else:
        have = sorted(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(path, f"neither a Lightning checkpoint (with 'state_dict') nor a plain state dict "
                                    f"of tensors; has {have}")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(path, f"state dict entries that are not tensors: {_first(bad)}")
    ignored: dict[str, int] = {}
    for prefix in spec.not_network:
        drop = [k for k in state if k.startswith(prefix)]
        if drop:
            ignored[prefix] = len(drop)
            for k in drop:
                del state[k]
    lp = spec.lightning_prefix
    if lp and any(k.startswith(lp) for k in state):
        state = {k[len(lp):] if k.startswith(lp) else k: v for k, v in state.items()}
    elif spec.bare_to and not any(k.startswith(spec.network_prefixes) for k in state) \
            and any(k.startswith(spec.bare_prefixes) for k in state):
        state = {spec.bare_to + k: v for k, v in state.items()}
    return state, hparams, ignored


def check_state_fits(path: str | os.PathLike, model: nn.Module, state: Mapping[str, torch.Tensor],
                     arch: str) -> None:
    """Raise :class:`CheckpointError` naming the first missing, unexpected and mis-shaped keys, if any."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} (the {arch} config needs {tuple(v.shape)})"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys: {_first(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys: {_first(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches: {_first(shapes, 3)}")
    other = _guess_arch(list(state))
    hint = (f"; it looks like a {other!r} checkpoint" if other and other != arch else
            "; pass the model config it was trained with (recon.published.<method>.model_config)")
    raise CheckpointError(path, f"does not fit the {arch!r} architecture: " + "; ".join(parts) + hint)


def load_published(path: str | os.PathLike, arch: str, model_config: Mapping | None = None
                   ) -> tuple[nn.Module, dict]:
    """Load a third-party checkpoint of a published architecture into its port (CPU, eval mode).

    Parameters
    ----------
    path: the official Lightning ``.ckpt`` or a plain state dict (``.pt``/``.pth``/``.ckpt``).
    arch: a published method (one with a port, :func:`cardiomm.recon.learned.published.published`).
    model_config: config fields overriding those found in the file's ``hyper_parameters`` (a plain state
        dict has none: then this is the whole config, on top of the official defaults).

    Returns
    -------
    ``(model, meta)``; ``meta`` holds ``arch``, ``model_config``, ``source: "published"``, and
    ``ignored_keys`` ``{prefix: count}`` for the official module's state that is not the network
    (e.g. the frozen text encoder), so that nothing is dropped silently.
    """
    path = Path(path)
    if port(arch) is None:
        raise ValueError(f"load_published: {arch!r} is not a published architecture; known: {published()}")
    obj = read_weights_only(path)
    if isinstance(obj, Mapping) and "arch" in obj and "state_sha256" in obj:
        if obj["arch"] != arch:
            raise CheckpointError(path, f"holds a {obj['arch']!r} network (cardiomm format), not {arch!r}")
        return load_model(path, arch)
    state, hparams, ignored = _published_state(path, obj, arch)
    names = {f.name for f in fields(config_class(arch))}
    cfg = {k: v for k, v in hparams.items() if k in names}
    cfg.update(dict(model_config or {}))
    try:
        model = build_model(arch, cfg)
    except (TypeError, ValueError) as err:
        raise CheckpointError(path, f"model config does not fit {arch!r}: {err}") from None
    check_state_fits(path, model, state, arch)
    model.load_state_dict(state, strict=True)
    model.eval()
    meta = {"arch": arch, "model_config": model.config.to_dict(), "source": "published",
            "ignored_keys": ignored, "n_parameters": count_parameters(model)}
    return model, meta


def load_any(path: str | os.PathLike, arch: str, model_config: Mapping | None = None) -> tuple[nn.Module, dict]:
    """A cardiomm-format checkpoint via :func:`load_model`; for published architectures also their files."""
    if port(arch) is not None:
        return load_published(path, arch, model_config)
    return load_model(path, arch)
