"""ESPIRiT sensitivity maps of the classical methods: one calibration per slice on the frame-averaged ACS.

Per slice, one set of sensitivity maps is calibrated with :class:`sigpy.mri.app.EspiritCalib` from the ACS region
averaged over frames (every frame samples the ACS), normalised to unit root-sum-of-squares inside their support,
and shared by every frame and every classical method (SENSE, CS, k-t TV, L+S). Because the maps have unit RSS, a
SENSE image ``x`` is on the scale of the RSS reference (``|x| = rss_c |S_c x|``).

SigPy 0.1.27 with NumPy 2.3 works as is on the CPU; the one shim here replaces the NaNs that ``EspiritCalib``
produces where the first coil's map is exactly zero (phase normalisation divides by it). The coil-maps job
calibrates every series of a subject once (:func:`cardiomm.stages.recon.coilmaps`, :func:`calibration_digest`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import sigpy.mri.app as mr_app
import torch

from cardiomm.acquisition import Acquisition
from cardiomm.physics.coils import normalize_smaps
from cardiomm.sampling.masks import central_square_width

MIN_CALIB_WIDTH = 8  # ESPIRiT's 6x6 kernel needs a calibration region wider than the kernel


def _check_finite(arr: np.ndarray, what: str) -> None:
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains {int((~np.isfinite(arr)).sum())} NaN/Inf values")


def espirit_maps(
    kspace_slice: np.ndarray,
    mask: np.ndarray,
    acs_region: np.ndarray,
    calib_width: int = 20,
    thresh: float = 0.02,
    crop: float = 0.95,
) -> np.ndarray:
    """ESPIRiT sensitivity maps of one slice, calibrated on the frame-averaged ACS.

    Parameters
    ----------
    kspace_slice: complex ``(nt, nc, ny, nx)`` masked k-space of one slice.
    mask: ``(nt, ny, nx)`` (or ``(1, ny, nx)``) sampling mask of that k-space.
    acs_region: bool ``(ny, nx)``, the ACS region (see :func:`cardiomm.sampling.masks.acs_mask`); it must be
        sampled in every frame.
    calib_width: side of the central calibration square; reduced to the largest centred square inside
        ``acs_region`` when that is smaller.
    thresh: relative singular-value threshold of the calibration matrix.
    crop: eigenvalue threshold below which the maps are set to zero (outside the support).

    Returns
    -------
    complex64 ``(nc, ny, nx)`` maps, ``sum_c |S_c|^2 = 1`` inside the support and 0 outside.
    """
    k = np.asarray(kspace_slice)
    m = np.asarray(mask) != 0
    region = np.asarray(acs_region, dtype=bool)
    if k.ndim != 4 or not np.iscomplexobj(k):
        raise ValueError(f"espirit_maps: kspace_slice must be complex (nt, nc, ny, nx), got {k.dtype} {k.shape}")
    if m.ndim != 3 or m.shape[1:] != k.shape[-2:] or m.shape[0] not in (1, k.shape[0]):
        raise ValueError(f"espirit_maps: mask shape {m.shape} does not match k-space shape {k.shape}")
    if region.shape != k.shape[-2:]:
        raise ValueError(f"espirit_maps: acs_region shape {region.shape} != (ny, nx) {k.shape[-2:]}")
    _check_finite(k, "espirit_maps: kspace_slice")
    if not m[:, region].all():
        raise ValueError("espirit_maps: the ACS region is not sampled in every frame")
    return _espirit(k, region, calib_width, thresh, crop)


def calibration(k: np.ndarray, region: np.ndarray, calib_width: int) -> tuple[np.ndarray, int]:
    """The ESPIRiT calibration input of one slice: the frame-averaged k-space inside the central calibration square.

    Parameters
    ----------
    k: complex ``(nt, nc, ny, nx)`` masked k-space of one slice; region: bool ``(ny, nx)`` ACS region, sampled in
    every frame; calib_width: requested side of the calibration square.

    Returns
    -------
    complex64 ``(nc, ny, nx)`` (zero outside the square) and the square's side: ``calib_width`` reduced to the
    largest centred square inside ``region``. Only that square enters ESPIRiT (SigPy crops it), so zeroing the
    rest changes nothing, and it makes the calibration a function of the ACS data alone: masks with the same ACS
    data give the same input, hence the same maps (:func:`cardiomm.stages.recon.coilmaps` computes them once).
    """
    width = min(int(calib_width), central_square_width(region))
    if width < MIN_CALIB_WIDTH:
        raise ValueError(
            f"espirit_maps: ESPIRiT needs a fully sampled central calibration region of at least "
            f"{MIN_CALIB_WIDTH}x{MIN_CALIB_WIDTH}; got {width} (calib_width={calib_width}, ACS too small)"
        )
    ny, nx = region.shape
    square = np.zeros((ny, nx), dtype=bool)
    y0, x0 = ny // 2 - width // 2, nx // 2 - width // 2  # sigpy's centred crop
    square[y0: y0 + width, x0: x0 + width] = True
    # one calibration per slice: average the ACS over frames (static coils, more SNR); zero elsewhere
    # (np.where, not a product: exact zeros, no -0.0, so equal ACS data give equal bytes)
    return np.where(square, k.mean(axis=0), 0).astype(np.complex64), width


def _espirit(k: np.ndarray, region: np.ndarray, calib_width: int, thresh: float = 0.02,
             crop: float = 0.95) -> np.ndarray:
    """:func:`espirit_maps` on inputs already checked (``k`` complex ``(nt, nc, ny, nx)``, ``region`` bool
    ``(ny, nx)`` sampled in every frame)."""
    calib, width = calibration(k, region, calib_width)
    return espirit_calibrated(calib, width, thresh, crop)


def espirit_calibrated(calib: np.ndarray, width: int, thresh: float = 0.02, crop: float = 0.95) -> np.ndarray:
    """ESPIRiT maps ``(nc, ny, nx)`` complex64 of a calibration input of :func:`calibration`."""
    maps = mr_app.EspiritCalib(calib, calib_width=width, thresh=thresh, crop=crop, show_pbar=False).run()
    maps = np.nan_to_num(np.asarray(maps), nan=0.0, posinf=0.0, neginf=0.0)  # shim: see module docstring
    maps = normalize_smaps(torch.from_numpy(maps.astype(np.complex128))).numpy()
    return maps.astype(np.complex64)


def slice_maps(acq: Acquisition, z: int) -> np.ndarray:
    """ESPIRiT maps ``(nc, ny, nx)`` of slice ``z``: from ``acq.coil_maps`` when the coil-maps job computed them,
    else calibrated here on the frame-averaged ACS (calibration square up to ``acq.acs_width``).

    Either way the array has ESPIRiT's own memory layout (Fortran order): SigPy's coil sums follow the layout, so
    this keeps a reconstruction bitwise the same with or without the coil-maps job.
    """
    if acq.coil_maps is not None:
        return np.asfortranarray(acq.coil_maps[z])
    return _espirit(acq.kspace[:, z], acq.acs, calib_width=acq.acs_width)


def calibrations(acq: Acquisition) -> list[tuple[np.ndarray, int]]:
    """The calibration input (:func:`calibration`) of every slice of a series, calibration square up to
    ``acq.acs_width``."""
    return [calibration(acq.kspace[:, z], acq.acs, acq.acs_width) for z in range(acq.shape[1])]


def calibration_digest(calibs: list[tuple[np.ndarray, int]]) -> str:
    """SHA-256 of a series' calibration inputs (bytes and widths): equal digests give equal maps, so the coil-maps
    job computes them once for the masks that share their ACS data."""
    h = hashlib.sha256()
    for c, w in calibs:
        h.update(c.tobytes())
        h.update(str(w).encode())
    return h.hexdigest()


def series_maps(calibs: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """ESPIRiT maps ``(nz, nc, ny, nx)`` complex64 of a series from its calibration inputs (:func:`calibrations`)."""
    return np.stack([espirit_calibrated(c, w) for c, w in calibs])
