"""What every trained network's files share: the state digest and the resume rule.

The one state digest (:func:`state_sha256`) covers names, dtypes, shapes and raw bytes of a state dict,
independent of pickling. The one resume rule (:func:`check_resume`): a resume state written for another
configuration is refused with one error naming the file and every differing key; it is never silently
continued from, nor silently discarded.

This module imports no task code (reconstruction or segmentation); both import it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping

import torch

__all__ = ["ResumeMismatchError", "check_resume", "config_diff", "plain", "read_dict", "state_sha256"]


def state_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """Digest of a state dict: sorted names with dtype, shape and raw bytes of every tensor."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def plain(obj: object) -> object:
    """Tuples become lists, recursively: how a config compares across a save/load round trip."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def config_diff(saved: object, current: object, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two (nested) configs, each as ``key (saved -> current)``."""
    saved, current = plain(saved), plain(current)
    if isinstance(saved, dict) and isinstance(current, dict):
        out: list[str] = []
        for k in sorted(set(saved) | set(current)):
            key = f"{prefix}.{k}" if prefix else k
            if k not in saved:
                out.append(f"{key} (absent -> {current[k]!r})")
            elif k not in current:
                out.append(f"{key} ({saved[k]!r} -> absent)")
            else:
                out += config_diff(saved[k], current[k], key)
        return out
    return [] if saved == current else [f"{prefix or 'value'} ({saved!r} -> {current!r})"]


def read_dict(path: str | os.PathLike, what: str, error: type[Exception] = ValueError) -> dict:
    """``torch.load(path, weights_only=True)`` of a file that must hold a dict (a checkpoint, a resume state).

    Raises ``error`` naming the file and ``what`` when it is missing, unreadable (corrupt, truncated, foreign)
    or holds something else than a dict.
    """
    if not os.path.exists(path):
        raise error(f"{path}: {what} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated / foreign files
        raise error(f"{path}: not a readable {what}, corrupt or truncated? ({err})") from None
    if not isinstance(obj, dict):
        raise error(f"{path}: {what} holds a {type(obj).__name__}, expected a dict")
    return obj


class ResumeMismatchError(ValueError):
    """A resume state was written for another configuration; the message names the file and the keys."""


def check_resume(path: str | os.PathLike, saved: Mapping, current: Mapping, may_change: Iterable[str] = ()) -> None:
    """The one resume rule: refuse a resume state whose configuration differs from the current one.

    Parameters
    ----------
    path: the resume file (named in the error).
    saved, current: ``{"arch": ..., "model_config": {...}, "train_config": {...}, ...}`` as stored and as asked.
    may_change: dotted keys allowed to differ (e.g. ``"train_config.epochs"``: more epochs may be added).

    Raises
    ------
    ResumeMismatchError: naming ``path`` and every differing key with both values.
    """
    allowed = set(may_change)
    diff = [d for d in config_diff(dict(saved), dict(current)) if d.split(" ", 1)[0] not in allowed]
    if diff:
        raise ResumeMismatchError(
            f"{path}: resume state was written for another configuration; differing keys: {'; '.join(diff)}. "
            "Delete it (or use another log_dir) to start afresh")


def write_model_card(path: str, title: str, body: dict[str, object], notes: str) -> None:
    """The one model-card writer (Markdown beside a checkpoint: data, command, seed, time, metrics, software),
    for the reconstruction networks and the segmenter alike."""
    import json
    import os
    import platform
    import sys as _sys

    import torch

    from cardiomm import __version__
    from cardiomm.atomic import write_text

    lines = [f"# {title}", "", notes.strip(), "", "| field | value |", "| --- | --- |"]
    for k, v in body.items():
        text = json.dumps(v, default=str) if isinstance(v, dict | list) else str(v)
        lines.append(f"| {k} | {text.replace('|', '/')} |")
    lines += ["", f"Software: cardiomm {__version__}, torch {torch.__version__}, Python {_sys.version.split()[0]}, "
              f"{platform.platform()}, {os.cpu_count()} CPUs."]
    write_text(path, "\n".join(lines) + "\n")
