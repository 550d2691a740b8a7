"""One undersampled acquisition (k-space, mask, ACS, geometry, metadata), validated once where it is read.

Everything downstream of :func:`load_undersampled` / :meth:`Acquisition.from_arrays` (the reconstruction
entry points of :mod:`cardiomm.recon`) trusts these invariants and does not check them again:

* ``kspace`` complex64 ``(nt, nz, nc, ny, nx)``, finite, no empty axis;
* ``mask`` uint8 ``(nt, ny, nx)`` (a one-frame mask broadcast to ``nt``), 0/1;
* ``acs`` bool ``(ny, nx)``, the one ACS rule (:func:`cardiomm.sampling.masks.acs_region`) with the release's
  width (:func:`cardiomm.io.releases.acs_lines`), sampled in every frame for named patterns;
* ``coil_maps``, when given, complex64 ``(nz, nc, ny, nx)`` and finite.

Errors name the file (or the ``source`` given for arrays).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from cardiomm.conventions import ACS_LINES, MaskName, parse_mask_name
from cardiomm.io import cmrxrecon as cio
from cardiomm.sampling.masks import acs_region, check_mask


@dataclass(frozen=True)
class Acquisition:
    """A validated undersampled series (see the module docstring for the invariants).

    Attributes
    ----------
    kspace: complex64 ``(nt, nz, nc, ny, nx)`` undersampled k-space (values outside ``mask`` are ignored).
    mask: uint8 ``(nt, ny, nx)``, 1 = sampled.
    mask_name: e.g. ``"ktGaussian16"`` (undersampling prompt, ACS geometry).
    acs: bool ``(ny, nx)`` ACS region.
    acs_width: ACS width the mask was made with (central lines, or the square's side for ktRadial).
    meta: scan metadata (``modality``, ``view``, ``vendor``, ...; unknown values allowed).
    geometry: image geometry for writing (:class:`cardiomm.io.nifti.Geometry`), if known.
    source: the k-space file (or a description), quoted in errors.
    mask_spec: the parsed ``mask_name`` (:class:`cardiomm.conventions.MaskName`; parsed once, here), ``None`` for a
        name outside the grammar (a custom mask: its ACS is then measured from the mask).
    coil_maps: ESPIRiT maps ``(nz, nc, ny, nx)`` of this series, calibrated once on its ACS by the coil-maps job
        (:func:`cardiomm.stages.recon.coilmaps`) and shared by the classical methods; ``None``: computed where needed
        (:func:`cardiomm.recon.classical.espirit.slice_maps`).
    """

    kspace: np.ndarray
    mask: np.ndarray
    mask_name: str
    acs: np.ndarray
    acs_width: int = ACS_LINES
    meta: Mapping[str, object] = field(default_factory=dict)
    geometry: object | None = None
    source: str = "arrays"
    coil_maps: np.ndarray | None = None
    mask_spec: MaskName | None = None

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """``(nt, nz, nc, ny, nx)``."""
        return tuple(self.kspace.shape)  # type: ignore[return-value]

    @classmethod
    def from_arrays(cls, kspace: np.ndarray, mask: np.ndarray, mask_name: str, acs_width: int = ACS_LINES,
                    meta: Mapping[str, object] | None = None, geometry: object | None = None,
                    source: str = "arrays", mask_source: str | None = None) -> Acquisition:
        """Validate arrays (k-space ``(nt, nz, nc, ny, nx)``, mask ``(nt|1, ny, nx)`` or ``(ny, nx)``) once.

        Raises ``ValueError`` naming ``source`` (k-space) or ``mask_source`` (mask; default ``source``).
        """
        k = np.asarray(kspace)
        msrc = mask_source or source
        if k.ndim != 5 or not np.iscomplexobj(k):
            raise ValueError(f"{source}: k-space must be complex (nt, nz, nc, ny, nx), got {k.dtype} {k.shape}")
        if min(k.shape) == 0:
            raise ValueError(f"{source}: k-space has an empty axis {k.shape}")
        if not np.isfinite(k).all():
            raise ValueError(f"{source}: k-space contains {int((~np.isfinite(k)).sum())} NaN/Inf values")
        m = np.asarray(mask)
        if m.ndim == 2:
            m = m[None]
        try:
            spec: MaskName | None = parse_mask_name(mask_name)
        except ValueError:
            spec = None
        if spec is not None:
            check_mask(m, k.shape, spec, source=msrc, acs=int(acs_width))
        elif m.ndim != 3 or m.shape[1:] != k.shape[-2:] or m.shape[0] not in (1, k.shape[0]):
            raise ValueError(f"{msrc}: mask shape {m.shape} does not match k-space shape {k.shape}")
        m = np.ascontiguousarray(np.broadcast_to(m != 0, (k.shape[0], *k.shape[-2:]))).astype(np.uint8)
        region = acs_region(spec if spec is not None else str(mask_name), m, int(acs_width))
        return cls(k.astype(np.complex64, copy=False), m, str(mask_name), region, int(acs_width), dict(meta or {}),
                   geometry, str(source), mask_spec=spec)


    def with_coil_maps(self, maps: np.ndarray, source: str = "coil maps") -> Acquisition:
        """This acquisition with precomputed ESPIRiT maps ``(nz, nc, ny, nx)``; a wrong shape or a non-finite value
        raises naming ``source``."""
        m = np.asarray(maps)
        nt, nz, nc, ny, nx = self.shape
        if m.shape != (nz, nc, ny, nx) or not np.iscomplexobj(m):
            raise ValueError(f"{source}: coil maps must be complex (nz, nc, ny, nx) = {(nz, nc, ny, nx)} for "
                             f"{self.source}, got {m.dtype} {m.shape}")
        if not np.isfinite(m).all():
            raise ValueError(f"{source}: coil maps contain {int((~np.isfinite(m)).sum())} NaN/Inf values")
        return replace(self, coil_maps=m.astype(np.complex64, copy=False))


def load_undersampled(kus_path: str | os.PathLike, mask_path: str | os.PathLike, mask_name: str,
                      acs_width: int = ACS_LINES, meta: Mapping[str, object] | None = None,
                      geometry: object | None = None, maps_path: str | os.PathLike | None = None) -> Acquisition:
    """Read and validate the workflow's undersampled pair (``<stem>_kus_<Mask>.mat`` holding ``kus``,
    ``<stem>_mask_<Mask>.mat`` holding ``mask``; :meth:`cardiomm.workflow.Plan.undersampled`), and the series'
    coil maps (``maps_path``, ``.npy`` of the coil-maps job) when given.

    ``acs_width``: the release's ACS width (:func:`cardiomm.io.releases.acs_lines`). Errors name the file.
    """
    kus = cio.read_kspace(kus_path, key="kus")  # 5D, complex, finite (CMRxReconFileError naming the file)
    mask = cio.read_mask(mask_path)  # (nt, ny, nx) uint8 0/1
    acq = Acquisition.from_arrays(kus, mask, mask_name, acs_width, meta, geometry, source=str(kus_path),
                                  mask_source=str(mask_path))
    if maps_path is None:
        return acq
    try:
        maps = np.load(maps_path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{maps_path}: not a readable .npy coil-maps file ({e})") from e
    return acq.with_coil_maps(maps, str(maps_path))
