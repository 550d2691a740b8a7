"""The mask of one subject x modality x mask name: the release's own file, or one generated with its ACS width.

``mask_source = "official"`` (default) takes the release's file wherever the release ships one of that name for
that file (:meth:`cardiomm.cohort.Subject.official_mask`), and generates the mask otherwise; ``"generate"`` always
generates. Either way the mask is validated against the k-space (shape, ACS of the release's width fully sampled),
and its origin is returned so that ``tables/masks.csv`` can say, per file, which it was.
"""

from __future__ import annotations

import numpy as np

from cardiomm.io import cmrxrecon as cio
from cardiomm.io.releases import acs_lines
from cardiomm.sampling.masks import check_mask, make_mask

MASK_SOURCES = ("official", "generate")


def subject_mask(subject: object, mod: str, name: str, kspace_shape: tuple, seed: int,
                 source: str = "official") -> tuple[np.ndarray, str]:
    """Mask ``(nt, ny, nx)`` (``nt = 1`` for the releases' 2D masks) and its origin.

    Parameters
    ----------
    subject: a :class:`cardiomm.cohort.Subject`.
    mod, name: modality and mask name (``Uniform8``, ``ktUniform4``, ``AccFactor04``, ...).
    kspace_shape: ``(nt, nz, nc, ny, nx)`` of the fully sampled k-space.
    seed: generator seed (generated masks only).
    source: ``official`` or ``generate``.

    Returns
    -------
    ``(mask, origin)`` with origin ``"official <file>:<variable>"`` or ``"generated (acs=<n>)"``.

    Raises
    ------
    ValueError naming the mask file when an official mask does not fit the k-space or misses ACS lines.
    """
    if source not in MASK_SOURCES:
        raise ValueError(f"config mask_source: {source!r} is not one of {MASK_SOURCES}")
    acs = acs_lines(subject.release)  # type: ignore[attr-defined]
    official = subject.official_mask(mod, name) if source == "official" else None  # type: ignore[attr-defined]
    if official is not None and official[0].exists():
        path, key = official
        mask = cio.read_mask(path, key=key)
        check_mask(mask, kspace_shape, name, source=f"{path} ({key})", acs=acs)
        return mask, f"official {path}:{key}"
    nt, _, _, ny, nx = kspace_shape
    return make_mask(name, nt, ny, nx, seed=seed, acs=acs), f"generated (acs={acs})"
