"""NIfTI images and label maps with true geometry.

Arrays inside the package are ``(nt, nz, ny, nx)``; NIfTI stores ``(x, y, z, t)``. Spacing:
``pixdim[1:3]`` = in-plane pixel size (mm), ``pixdim[3]`` = slice spacing = thickness + gap (mm),
``pixdim[4]`` = frame interval in seconds for cine (units set to mm / sec), 1 for mapping series.
The slice thickness itself and the gap are kept in the header ``descrip`` field and in
:class:`Geometry`, so volumes computed as area x spacing account for the gap.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from cardiomm.atomic import atomic_path


@dataclass(frozen=True)
class Geometry:
    """Voxel geometry of a short-axis stack.

    Attributes
    ----------
    dx, dy: in-plane pixel size along readout (x) and phase (y), mm.
    thickness: slice thickness, mm.
    gap: gap between slices, mm (spacing = thickness + gap).
    dt: frame interval, s (cine); 0 for mapping series.
    affine: the NIfTI (RAS, mm) affine of the ``(x, y, z)`` voxel indices as a 4 x 4 nested tuple, when the slice
        orientation and position are known (scanner raw data); ``None``: axis-aligned, ``diag(dx, dy, spacing)``.
    """

    dx: float
    dy: float
    thickness: float
    gap: float
    dt: float = 0.0
    affine: tuple | None = None

    @property
    def spacing(self) -> float:
        """Distance between slice centres, mm."""
        return self.thickness + self.gap

    @property
    def voxel_ml(self) -> float:
        """Volume represented by one voxel of a disc-summation stack, mL."""
        return self.dx * self.dy * self.spacing / 1000.0


class NiftiError(ValueError):
    """A NIfTI file is missing, unreadable, or has the wrong dimensionality."""


_DESCRIP = re.compile(r"thickness=([0-9.]+);gap=([0-9.]+)")


def _affine(g: Geometry) -> np.ndarray:
    return np.asarray(g.affine, float) if g.affine is not None else np.diag([g.dx, g.dy, g.spacing, 1.0])


def save_image(path: str | os.PathLike, data: np.ndarray, geom: Geometry, is_label: bool = False) -> None:
    """Atomically save ``(nt, nz, ny, nx)`` data (float32 image, or uint8 labels) as NIfTI."""
    if data.ndim != 4:
        raise NiftiError(f"{path}: expected (nt, nz, ny, nx) data, got shape {data.shape}")
    arr = np.transpose(data, (3, 2, 1, 0))
    arr = arr.astype(np.uint8) if is_label else arr.astype(np.float32)
    img = nib.Nifti1Image(arr, _affine(geom))
    hdr = img.header
    hdr.set_xyzt_units("mm", "sec")
    zooms = (geom.dx, geom.dy, geom.spacing, geom.dt if geom.dt > 0 else 1.0)
    hdr.set_zooms(zooms)
    from cardiomm.provenance import stamp

    st = stamp()
    extra = f";v={st['cardiomm_version']};cfg={st['config_sha256'][:12]}" if st else ""
    hdr["descrip"] = f"thickness={geom.thickness:.3f};gap={geom.gap:.3f}{extra}"[:79].encode()
    if is_label:
        hdr.set_intent("label")
    with atomic_path(path) as tmp:
        nib.save(img, tmp)


def load_image(path: str | os.PathLike) -> tuple[np.ndarray, Geometry]:
    """Load a NIfTI saved by :func:`save_image` (or any 3D/4D NIfTI) as ``(nt, nz, ny, nx)`` + geometry."""
    path = Path(path)
    if not path.exists():
        raise NiftiError(f"{path}: file does not exist")
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as err:  # nibabel raises many types for corrupt files
        raise NiftiError(f"{path}: not a readable NIfTI file ({err})") from None
    if data.ndim == 3:
        data = data[..., None]
    if data.ndim != 4:
        raise NiftiError(f"{path}: expected a 3D or 4D image, got {data.ndim} axes {data.shape}")
    zooms = list(img.header.get_zooms()) + [1.0] * 4
    descrip = img.header["descrip"].tobytes().decode(errors="ignore")
    m = _DESCRIP.search(descrip)
    spacing = float(zooms[2])
    thickness, gap = (float(m.group(1)), float(m.group(2))) if m else (spacing, 0.0)
    dt = float(zooms[3]) if data.shape[3] > 1 else 0.0
    geom = Geometry(float(zooms[0]), float(zooms[1]), thickness, gap, dt)
    aff = np.asarray(img.affine, float)
    if not np.allclose(aff, _affine(geom), atol=1e-4):  # an oriented image (scanner raw data): keep its affine
        geom = Geometry(geom.dx, geom.dy, thickness, gap, dt, tuple(map(tuple, aff.tolist())))
    return np.transpose(data, (3, 2, 1, 0)), geom
