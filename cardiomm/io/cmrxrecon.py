"""CMRxRecon challenge files: MATLAB v7.3 (HDF5) ``.mat`` k-space, masks, reconstructions, timing.

Axis order (the one convention of the package)
----------------------------------------------
MATLAB stores k-space as ``(nx, ny, nc, nz, nt)``; HDF5 (and so h5py) sees the reversed shape.
Every reader here returns NumPy arrays in the h5py order::

    k-space        (nt, nz, nc, ny, nx)  complex64   nt = frames (cine) or weightings (mapping)
    mask           (nt, ny, nx)          uint8       1 = sampled
    reconimage     (nt, nz, ny, nx)      float32

``ny`` is the phase-encoding axis (undersampled), ``nx`` the readout axis (always fully sampled).
MATLAB complex arrays are HDF5 compounds with fields ``real`` and ``imag``; we write them the same way
with the 512-byte MATLAB header in the user block, so MATLAB's ``load`` reads our files.

Challenge variants accepted by :func:`read_kspace`: 2023 (``kspace_full``, ``kspace_sub04``...),
2024 (``kspace_full``/``kspace``, ``kus``), 2025 (``kspace``).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import h5py
import numpy as np

from cardiomm.atomic import atomic_path

KSPACE_KEYS = ("kspace_full", "kspace", "kus")
_USERBLOCK = 512


class CMRxReconFileError(ValueError):
    """A CMRxRecon file is missing, unreadable, or not shaped as the challenge lays it out."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# File signatures of things users put where a .mat is expected, to say what the file is instead
_SIGNATURES = (
    (b"\x1f\x8b", "a gzip file (a NIfTI .nii.gz?)"),
    (b"PK\x03\x04", "a zip archive (the release's download not yet unpacked?)"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\x93NUMPY", "a NumPy .npy file"),
)


def describe_file(path: str | os.PathLike) -> str:
    """What a file that should be a MAT file looks like it is, from its first bytes (for error messages)."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if head[:6] == b"MATLAB":
        return f"a MAT file with an unreadable body (header {head[:40].decode('ascii', 'replace')!r})"
    if head[:8] == _HDF5_SIGNATURE or head[512:520] == _HDF5_SIGNATURE:
        return "an HDF5 file"
    for sig, what in _SIGNATURES:
        if head.startswith(sig):
            return what
    if len(head) >= 352 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "an uncompressed NIfTI image"
    try:
        text = head.decode("utf-8")
        if any(ord(c) < 32 and c not in "\t\r\n" for c in text):
            raise UnicodeDecodeError("utf-8", head, 0, 1, "control characters")
    except UnicodeDecodeError:
        return f"binary data of unknown type (first bytes {head[:8].hex(' ')})"
    first = text.splitlines()[0][:60] if text.strip() else ""
    return f"a text file (first line {first!r})" if first else "a text file of blank lines"


def _mat_version(path: Path) -> str:
    """``"7.3"`` (HDF5, h5py), ``"5"`` (MATLAB v5/v6/v7, scipy.io) or raise naming what the file is.

    MAT v5/v7 files start with a 116-byte text header, then the version ``0x0100`` and an endian indicator
    ``IM``/``MI`` at bytes 126-127; v7.3 files are HDF5 with the same text header in a 512-byte user block
    (MathWorks, "MAT-File Format", and h5py's userblock documentation).
    """
    if not path.exists():
        raise CMRxReconFileError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise CMRxReconFileError(path, "file is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(528)
    if head[:4] == _HDF5_SIGNATURE[:4] or head[512:520] == _HDF5_SIGNATURE:
        return "7.3"  # h5py then says whether it is a readable (not truncated) HDF5 file
    if head.startswith(b"MATLAB 5.0 MAT-file") or (len(head) >= 128 and head[126:128] in (b"IM", b"MI")
                                                     and head[124:126] in (b"\x00\x01", b"\x01\x00")):
        return "5"
    raise CMRxReconFileError(path, f"not a MATLAB .mat file: it is {describe_file(path)}")


def _open(path: str | os.PathLike) -> h5py.File:
    path = Path(path)
    _mat_version(path)
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise CMRxReconFileError(
            path, f"not a readable MATLAB v7.3 (HDF5) file, truncated or corrupt ({err})"
        ) from None


def _to_numpy(path: str | os.PathLike, ds: h5py.Dataset, want_complex: bool) -> np.ndarray:
    try:
        raw = ds[()]
    except (OSError, RuntimeError) as err:
        raise CMRxReconFileError(path, f"dataset {ds.name!r} cannot be read, file truncated? ({err})") from None
    if raw.dtype.names is not None:
        if not {"real", "imag"} <= set(raw.dtype.names):
            raise CMRxReconFileError(path, f"dataset {ds.name!r} is a compound without real/imag fields")
        arr = raw["real"].astype(np.float32) + 1j * raw["imag"].astype(np.float32)
        return arr.astype(np.complex64)
    if np.iscomplexobj(raw):
        return raw.astype(np.complex64)
    if want_complex:
        raise CMRxReconFileError(path, f"dataset {ds.name!r} is real-valued ({raw.dtype}); k-space must be complex")
    return np.asarray(raw)


def _v5_variables(path: Path) -> dict[str, np.ndarray]:
    """Every array of a MAT v5/v7 file, axes reversed to the h5py order of the v7.3 readers."""
    import scipy.io

    try:
        raw = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises ValueError/TypeError/MatReadError for damaged files
        raise CMRxReconFileError(path, f"MATLAB v5/v7 file cannot be read, truncated or corrupt ({err})") from None
    # MATLAB is column-major: reversing the axes gives the (nt, nz, nc, ny, nx) order h5py shows for v7.3
    return {k: np.ascontiguousarray(np.asarray(v).transpose()) for k, v in raw.items()
            if not k.startswith("__") and isinstance(v, np.ndarray)}


def read_variables(path: str | os.PathLike, keys: list[str] | None = None,
                   want_complex: bool = False) -> dict[str, np.ndarray]:
    """Arrays of a MAT file (v7.3 through h5py, v5/v7 through scipy.io), in h5py (reversed MATLAB) order.

    ``keys``: read only these (those absent are left out; the caller decides what is required).
    """
    path = Path(path)
    if _mat_version(path) == "5":
        found = _v5_variables(path)
        out = {}
        for k, v in found.items():
            if keys is not None and k not in keys:
                continue
            if want_complex and not np.iscomplexobj(v):
                raise CMRxReconFileError(path, f"variable {k!r} is real-valued ({v.dtype}); k-space must be complex")
            out[k] = v.astype(np.complex64) if np.iscomplexobj(v) else v
        return out
    with _open(path) as f:
        names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset) and not k.startswith("#")]
        return {k: _to_numpy(path, f[k], want_complex) for k in names if keys is None or k in keys}


def variable_names(path: str | os.PathLike) -> list[str]:
    """Names of the variables of a MAT file (any version)."""
    path = Path(path)
    if _mat_version(path) == "5":
        import scipy.io

        try:
            return [name for name, _, _ in scipy.io.whosmat(path)]
        except Exception as err:
            raise CMRxReconFileError(path, f"MATLAB v5/v7 file cannot be read ({err})") from None
    with _open(path) as f:
        return [k for k in f.keys() if not k.startswith("#")]


def _check_finite(path: str | os.PathLike, key: str, arr: np.ndarray) -> None:
    if not np.isfinite(arr).all():
        n = int((~np.isfinite(arr)).sum())
        raise CMRxReconFileError(path, f"{key!r} contains {n} NaN/Inf values")


def read_kspace(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """Read multi-coil k-space.

    Parameters
    ----------
    path: a CMRxRecon ``.mat`` (v7.3).
    key: dataset name; default the first of ``kspace_full``, ``kspace``, ``kus``, ``kspace_sub*`` present, else the
        file's only variable if it is complex (the 2025 training files' variable name is not stated publicly).

    Returns
    -------
    complex64 array ``(nt, nz, nc, ny, nx)``. A 4D file (MATLAB ``(nx, ny, nc, nz)``: the single-image series
    BlackBlood, T1w and T2w of 2024/2025, "the data size of BlackBlood, T1w, T2w is 4D (nx,ny,nc,nz)" in the 2025
    Format_TaskR1.txt) gets ``nt = 1``; every other multi-coil series is 5D.
    """
    keys = variable_names(path)
    sole = False
    if key is None:
        cands = [k for k in KSPACE_KEYS if k in keys] + sorted(k for k in keys if k.startswith("kspace_sub"))
        if not cands and len(keys) == 1:
            # the releases' own demo (mainRun4Ranking_2025.m) loads a k-space file's first variable whatever its
            # name: a file with one complex variable is read the same way
            cands, sole = keys, True
        if not cands:
            raise CMRxReconFileError(path, f"no k-space variable; expected one of {KSPACE_KEYS}, found {keys}")
        key = cands[0]
    if key not in keys:
        raise CMRxReconFileError(path, f"variable {key!r} not found; found {keys}")
    try:
        arr = read_variables(path, [key], want_complex=True)[key]
    except CMRxReconFileError as err:
        if sole and "real-valued" in err.reason:
            raise CMRxReconFileError(path, f"no k-space variable; expected one of {KSPACE_KEYS} or a sole complex "
                                           f"variable, found {keys} (real-valued)") from None
        raise
    if arr.ndim == 4:  # a single-image series (BlackBlood, T1w, T2w): one "frame"
        arr = arr[None]
    if arr.ndim != 5:
        raise CMRxReconFileError(
            path, f"{key!r} has {arr.ndim} axes {arr.shape}; expected 5 (MATLAB nx, ny, nc, nz, nt) or 4 (MATLAB "
                  f"nx, ny, nc, nz: a single-image series)"
        )
    if min(arr.shape) == 0:
        raise CMRxReconFileError(path, f"{key!r} has an empty axis {arr.shape} (nt, nz, nc, ny, nx)")
    _check_finite(path, key, arr)
    return arr


def kspace_shape(path: str | os.PathLike) -> tuple[int, int, int, int, int]:
    """``(nt, nz, nc, ny, nx)`` of the k-space variable :func:`read_kspace` would read, from the file's metadata
    only (no data read: for the checks at start-up). Raises :class:`CMRxReconFileError` as :func:`read_kspace`."""
    path = Path(path)
    keys = variable_names(path)
    cands = [k for k in KSPACE_KEYS if k in keys] + sorted(k for k in keys if k.startswith("kspace_sub"))
    key = cands[0] if cands else (keys[0] if len(keys) == 1 else None)
    if key is None:
        raise CMRxReconFileError(path, f"no k-space variable; expected one of {KSPACE_KEYS}, found {keys}")
    if _mat_version(path) == "5":
        import scipy.io

        shape = next(tuple(reversed(sh)) for name, sh, _ in scipy.io.whosmat(path) if name == key)
    else:
        with _open(path) as f:
            shape = tuple(f[key].shape)
    if len(shape) == 4:
        shape = (1, *shape)
    if len(shape) != 5:
        raise CMRxReconFileError(path, f"{key!r} has {len(shape)} axes {shape}; expected 5 (MATLAB nx, ny, nc, nz, "
                                       f"nt) or 4")
    return tuple(int(v) for v in shape)  # type: ignore[return-value]


def read_mask(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """Read a sampling mask as uint8 ``(nt, ny, nx)`` (a 2D ``(ny, nx)`` mask gets ``nt = 1``).

    ``key``: the variable; default ``mask`` (ours, 2024, 2025), or the file's only ``maskNN`` variable (2023
    ``<stem>_mask.mat`` holds ``mask04``, ``mask08``, ``mask10``: pass the one wanted).
    """
    names = variable_names(path)
    if key is None:
        nn = [k for k in names if re.fullmatch(r"mask\d+", k)]
        key = "mask" if "mask" in names or len(nn) != 1 else nn[0]
    if key not in names:
        raise CMRxReconFileError(path, f"variable {key!r} not found; found {names}")
    arr = read_variables(path, [key])[key]
    if np.iscomplexobj(arr):
        raise CMRxReconFileError(path, "mask is complex; expected 0/1 values")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise CMRxReconFileError(path, f"mask has {arr.ndim} axes {arr.shape}; expected (nt, ny, nx) or (ny, nx)")
    if not np.isin(arr, (0, 1)).all():
        raise CMRxReconFileError(path, "mask holds values other than 0 and 1")
    return arr.astype(np.uint8)


def read_recon(path: str | os.PathLike, key: str = "reconimage") -> np.ndarray:
    """Read a reconstruction as float32 ``(nt, nz, ny, nx)``."""
    names = variable_names(path)
    if key not in names:
        raise CMRxReconFileError(path, f"variable {key!r} not found; found {names}")
    arr = read_variables(path, [key])[key]
    if arr.ndim != 4:
        raise CMRxReconFileError(path, f"{key!r} has {arr.ndim} axes {arr.shape}; expected (nt, nz, ny, nx)")
    _check_finite(path, key, arr)
    return np.abs(arr).astype(np.float32) if np.iscomplexobj(arr) else arr.astype(np.float32)


def _matlab_header() -> bytes:
    text = (
        "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: "
        + time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(0))
        + " HDF5 schema 1.00 ."
    )
    head = text.encode("ascii").ljust(116, b" ")
    head += b"\x00" * 8  # subsystem data offset
    head += b"\x00\x02" + b"IM"  # version 0x0200, endian indicator as MATLAB writes on little-endian
    return head.ljust(_USERBLOCK, b"\x00")


_MATLAB_CLASS = {
    np.dtype(np.float32): "single",
    np.dtype(np.float64): "double",
    np.dtype(np.complex64): "single",
    np.dtype(np.complex128): "double",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.int32): "int32",
    np.dtype(np.bool_): "logical",
}


def write_mat(path: str | os.PathLike, variables: dict[str, np.ndarray], compress: bool = True,
              attrs: dict[str, str] | None = None) -> None:
    """Atomically write arrays as a MATLAB v7.3 file, axes given in h5py (reversed MATLAB) order.

    Complex arrays become ``real``/``imag`` compounds, as MATLAB writes them. gzip level 1 keeps
    zero-filled undersampled k-space small.
    """
    from cardiomm.provenance import stamp

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", userblock_size=_USERBLOCK) as f:
            for k, v in {**stamp(), **(attrs or {})}.items():
                f.attrs[k] = np.bytes_(v)
            for name, arr in variables.items():
                arr = np.ascontiguousarray(arr)
                cls = _MATLAB_CLASS.get(arr.dtype)
                if cls is None:
                    raise TypeError(f"cannot write {name!r} of dtype {arr.dtype} to {path}")
                if np.iscomplexobj(arr):
                    ftype = np.float32 if arr.dtype == np.complex64 else np.float64
                    comp = np.empty(arr.shape, dtype=[("real", ftype), ("imag", ftype)])
                    comp["real"], comp["imag"] = arr.real, arr.imag
                    data = comp
                elif arr.dtype == np.bool_:
                    data = arr.astype(np.uint8)
                else:
                    data = arr
                kw = {"compression": "gzip", "compression_opts": 1} if compress and arr.size > 1024 else {}
                ds = f.create_dataset(name, data=data, **kw)
                ds.attrs["MATLAB_class"] = np.bytes_(cls)
                if arr.dtype == np.bool_:
                    ds.attrs["MATLAB_int_decode"] = np.int32(1)
        with open(tmp, "r+b") as fh:
            fh.write(_matlab_header())


def write_kspace(path: str | os.PathLike, kspace: np.ndarray, key: str = "kspace") -> None:
    """Write complex k-space ``(nt, nz, nc, ny, nx)`` as a challenge ``.mat`` (MATLAB ``(nx, ny, nc, nz, nt)``).

    Undersampled k-space (``kus``, mostly zeros) is gzip-compressed; fully sampled noisy k-space is not (gzip
    gains little on noise and costs seconds per file).
    """
    if kspace.ndim != 5:
        raise ValueError(f"k-space for {path} must be (nt, nz, nc, ny, nx), got shape {kspace.shape}")
    write_mat(path, {key: kspace.astype(np.complex64, copy=False)}, compress=key == "kus")


def write_mask(path: str | os.PathLike, mask: np.ndarray, source: str | None = None) -> None:
    """Write a mask ``(nt, ny, nx)`` as ``mask`` (uint8); ``source`` (where it came from) becomes the file
    attribute ``cardiomm_mask_source`` that ``tables/masks.csv`` reports."""
    if mask.ndim != 3:
        raise ValueError(f"mask for {path} must be (nt, ny, nx), got shape {mask.shape}")
    write_mat(path, {"mask": mask.astype(np.uint8)}, attrs={"cardiomm_mask_source": source} if source else None)


def read_attr(path: str | os.PathLike, name: str) -> str | None:
    """A text attribute of a v7.3 file we wrote (``None`` if absent or the file is v5)."""
    path = Path(path)
    if _mat_version(path) != "7.3":
        return None
    with _open(path) as f:
        v = f.attrs.get(name)
    return None if v is None else (v.decode() if isinstance(v, bytes) else str(v))


def write_recon(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a magnitude reconstruction ``(nt, nz, ny, nx)`` as the challenge's ``reconimage`` (single)."""
    if image.ndim != 4:
        raise ValueError(f"reconimage for {path} must be (nt, nz, ny, nx), got shape {image.shape}")
    write_mat(path, {"reconimage": image.astype(np.float32)})


# ---------------------------------------------------------------------------------------------
# Mapping timing files: one row per slice, one column per weighted image, in ms
# ---------------------------------------------------------------------------------------------


def write_timing(path: str | os.PathLike, times_ms: np.ndarray) -> None:
    """Write per-slice timings ``(nz, nt)`` (inversion / T2-prep / spin-lock times in ms) as CSV.

    Columns: ``slice, t0, t1, ...``; one row per slice.
    """
    times_ms = np.asarray(times_ms, dtype=float)
    if times_ms.ndim != 2:
        raise ValueError(f"timing for {path} must be (nz, nt), got shape {times_ms.shape}")
    nt = times_ms.shape[1]
    lines = ["slice," + ",".join(f"t{i}" for i in range(nt))]
    for z, row in enumerate(times_ms):
        lines.append(f"{z}," + ",".join(f"{v:.3f}" for v in row))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def _timing_cells(path: Path) -> list[list[str]]:
    rows = [[c.strip() for c in r.split(",")] for r in path.read_text().splitlines() if r.strip()]
    if len(rows) < 2:
        raise CMRxReconFileError(path, "timing file has no data rows")
    return rows


def _numbers(path: Path, cells: list[list[str]]) -> np.ndarray:
    try:
        vals = np.array([[float(v) for v in r] for r in cells], dtype=float)
    except ValueError as err:
        raise CMRxReconFileError(path, f"non-numeric timing value ({err})") from None
    if vals.ndim != 2 or vals.shape[1] == 0:
        raise CMRxReconFileError(path, "timing rows have differing or zero lengths")
    if not np.isfinite(vals).all():
        raise CMRxReconFileError(path, "timing contains NaN/Inf")
    return vals


def read_timing(path: str | os.PathLike, nz: int | None = None, nt: int | None = None) -> np.ndarray:
    """Read per-slice timings as float ``(nz, nt)`` in ms, checking counts against the images if given.

    Two layouts are read as they are:

    * ours (written by :func:`write_timing`): header ``slice, t0, t1, ...``, one row per slice;
    * the CMRxRecon 2023 release's ``T1map.csv``/``T2map.csv`` (``ChallengeDataFormat/Format_mapping.txt`` of
      CmrxRecon/CMRxRecon: "record the inversion time for MOLLI (ms)" / "the echo time for T2prep-SSFP"): a
      header row, then one row per weighted image whose first cell is its label (``TI1``, ``TI2``, ...), then one
      column per slice; the release pads the table with all-zero slice columns beyond the series' slices. Those
      trailing all-zero columns are dropped; what remains must match ``nz`` exactly (never truncated).

    A table of one slice (one column in the 2023 layout, as the 2023 ``T2map.csv`` ships its T2-preparation times,
    shared by every slice: the challenge's own T2 evaluation reads that one column; or one row in ours) applies to
    every slice: with ``nz`` given it is repeated ``nz`` times.
    """
    path = Path(path)
    if not path.exists():
        raise CMRxReconFileError(path, "timing file does not exist (mapping needs per-image times)")
    cells = _timing_cells(path)
    if cells[0][0].lower() == "slice":  # ours: rows = slices
        vals = _numbers(path, [r[1:] for r in cells[1:]])
    else:  # CMRxRecon 2023: rows = weightings, columns = slices (+ zero padding)
        body = cells[1:]
        if all(r and r[0] and not _is_number(r[0]) for r in body):
            body = [r[1:] for r in body]
        per_time = _numbers(path, body)
        vals = per_time.T  # (slices incl. padding, nt)
        used = np.flatnonzero(np.any(vals != 0, axis=1))  # an all-zero column is padding (no real TI/prep is 0 for
        vals = vals[: used[-1] + 1] if used.size else vals  # every weighting), trailing ones are dropped
    if nz is not None and vals.shape[0] == 1 and nz > 1:  # one slice's times: shared by every slice
        vals = np.repeat(vals, nz, axis=0)
    if nz is not None and vals.shape[0] != nz:
        raise CMRxReconFileError(path, f"timing has {vals.shape[0]} slices, images have {nz}")
    if nt is not None and vals.shape[1] != nt:
        raise CMRxReconFileError(path, f"timing has {vals.shape[1]} times per slice, images have {nt}")
    return vals


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
