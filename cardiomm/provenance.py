"""Provenance: which code, configuration, software and checkpoints made an output.

* Every ``.mat`` written by :mod:`cardiomm.io.cmrxrecon` carries HDF5 attributes ``cardiomm_version`` and
  ``config_sha256``, and every NIfTI carries them in its ``descrip`` field, once a workflow job has called
  :func:`activate` (the ``stages.job.logged`` context does).
* ``results/<cohort>/provenance.json`` (rule ``provenance``) lists the code version, the config hash, the
  software versions and the SHA-256 of every checkpoint; the report shows it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from cardiomm import __version__

_STAMP: dict[str, str] = {}
PACKAGES = ("torch", "monai", "numpy", "scipy", "sigpy", "scikit-image", "pandas", "pingouin", "nibabel", "h5py",
            "snakemake", "matplotlib", "seaborn")


def code_version() -> str:
    """Package version plus the git commit of the source tree (``+dirty`` with uncommitted changes)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{__version__}+{commit}" + (".dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return __version__


def config_hash(config: dict) -> str:
    """SHA-256 of the configuration's canonical JSON (key order does not matter)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def path_sha256(path: str | Path) -> str:
    """SHA-256 of a checkpoint file, or of a model folder (MONAI bundle, nnU-Net results folder).

    A folder's hash covers every file below it: the sorted ``relative/path\0sha256\n`` lines of its files, so
    it changes when any file is added, removed, renamed or changed.
    """
    p = Path(path)
    if not p.is_dir():
        return file_sha256(p)
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(f"{f.relative_to(p).as_posix()}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (benchmark headers), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def software_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def activate(config: dict | None) -> dict[str, str]:
    """Set the stamp written into every ``.mat``/NIfTI output of this process; returns it."""
    _STAMP.clear()
    if config is not None:
        _STAMP.update({"cardiomm_version": code_version(), "config_sha256": config_hash(config)[:16]})
    return dict(_STAMP)


def stamp() -> dict[str, str]:
    """The active stamp (empty outside a workflow job)."""
    return dict(_STAMP)


def manifest(config: dict, models: dict[str, str]) -> dict:
    """Everything needed to tell how a run's outputs were made."""
    ckpts = {}
    for name, path in models.items():
        p = Path(path)
        ckpts[name] = {"path": str(path), "sha256": path_sha256(p) if p.exists() else "missing"}
    return {"cardiomm_version": code_version(), "config_sha256": config_hash(config), "software": software_versions(),
            "checkpoints": ckpts, "config": config}
