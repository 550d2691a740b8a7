"""BART's ``.cfl``/``.hdr`` array format: our own reader and writer.

A BART array ``name`` is two files: ``name.hdr``, text whose first line is ``# Dimensions`` and whose second
line holds the sizes of the dimensions (BART's dimension 0 first), and ``name.cfl``, the raw complex64
(little-endian interleaved float32 real, imaginary) values in column-major (Fortran) order, dimension 0 fastest.

:func:`write_cfl` takes a NumPy array whose axis ``i`` is BART's dimension ``i`` (so a C-order ``(ny, nx)``
image must be transposed, or reversed, by the caller to say which axis BART reads as its dimension 0).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BART_DIMS = 16  # DIMS in BART 0.8: arrays are padded to this many dimensions (trailing ones)


def _base(name: str | os.PathLike) -> Path:
    p = Path(name)
    return p.with_suffix("") if p.suffix in (".cfl", ".hdr") else p


def write_cfl(name: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (axis ``i`` = BART dimension ``i``) as ``name.hdr`` + ``name.cfl`` (complex64).

    The header lists at least :data:`BART_DIMS` dimensions (trailing ones added), as BART itself writes them.
    """
    a = np.asarray(array)
    if a.ndim > BART_DIMS:
        raise ValueError(f"write_cfl {name}: {a.ndim} dimensions, BART supports at most {BART_DIMS}")
    if not np.isfinite(a).all():
        raise ValueError(f"write_cfl {name}: the array contains NaN/Inf values")
    base = _base(name)
    dims = list(a.shape) + [1] * (BART_DIMS - a.ndim)
    base.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(str(d) for d in dims) + " \n")
    np.asarray(a, dtype="<c8").ravel(order="F").tofile(base.with_suffix(".cfl"))


def read_hdr(name: str | os.PathLike) -> tuple[int, ...]:
    """The dimensions listed by ``name.hdr`` (all of them, trailing ones included)."""
    hdr = _base(name).with_suffix(".hdr")
    lines = [ln.strip() for ln in hdr.read_text().splitlines()]
    try:
        i = lines.index("# Dimensions")
        dims = tuple(int(v) for v in lines[i + 1].split())
    except (ValueError, IndexError):
        raise ValueError(f"{hdr}: not a BART header (no '# Dimensions' line followed by integer sizes)") from None
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"{hdr}: invalid dimensions {dims}")
    return dims


def read_cfl(name: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read ``name.cfl`` as complex64 with axis ``i`` = BART dimension ``i``.

    ``ndim``: keep this many leading dimensions (the dropped trailing ones must be 1); default: drop every
    trailing dimension of size 1 (at least one kept).
    """
    base = _base(name)
    dims = read_hdr(base)
    n = int(np.prod(dims))
    data = np.fromfile(base.with_suffix(".cfl"), dtype="<c8")
    if data.size != n:
        raise ValueError(f"{base}.cfl: {data.size} complex values, the header's dimensions {dims} need {n}")
    if ndim is None:
        ndim = max(1, len(dims) - next((i for i, d in enumerate(reversed(dims)) if d != 1), len(dims) - 1))
    if any(d != 1 for d in dims[ndim:]):
        raise ValueError(f"{base}.hdr: dimensions {dims} have non-singleton entries beyond the first {ndim}")
    shape = tuple(dims[:ndim]) + (1,) * max(0, ndim - len(dims))
    return data.reshape(shape, order="F").astype(np.complex64, copy=False)
