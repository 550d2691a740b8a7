"""BART (Berkeley Advanced Reconstruction Toolbox) as a peer engine for SENSE, ``cs`` and ``kttv``.

Where the ``bart`` binary is on the ``PATH`` (Debian package ``bart``, 0.8), each slice is calibrated with
``bart ecalib`` and reconstructed with ``bart pics``, with the parameters of the SigPy engine and the ``pics``
regularisation its :class:`~cardiomm.recon.classical.series.ClassicalSolver` names:

* ESPIRiT: the frame-averaged ACS (as :func:`cardiomm.recon.classical.espirit.espirit_maps`),
  ``ecalib -m 1 -k 6 -r <acs>`` (one map, SigPy's kernel width and calibration size) with BART's own
  singular-value threshold and eigenvalue crop (0.001, 0.8): BART scales both differently from SigPy, and SigPy's
  values (0.02, 0.95) made BART keep 29 % of a cine slice's field of view (heart included) against SigPy's 66 %;
  BART's defaults keep 73 %. Where both are non-zero the two engines' maps agree (|<S_sigpy, S_bart>| median
  0.99998 on that slice).
* the data of a slice are divided by the same scale as the SigPy engine's
  (:func:`cardiomm.recon.classical.problem.data_scale`, computed with BART's maps) and ``pics -w 1`` turns BART's
  own scaling off, so ``lamda`` means the same;
* ``sense``: ``pics -l2 -r lamda`` (conjugate gradients); ``cs``: ``pics -R W:3:0:lamda`` (l1-wavelet over
  the two image axes); ``kttv``: ``pics -R T:1024:0:lamda`` (total variation along BART's time dimension 10);
  ``-i max_iter`` in each. The sampling pattern is passed with ``-p``.

The solvers are BART's (CG, FISTA and ADMM), its wavelet is not SigPy's Daubechies-4 and its finite difference
along time is not circular, so the two engines solve the same problems only approximately; the benchmark
``benchmarks/bench_classical.py`` and ``tests/test_bart.py`` measure how closely.

Layout: BART's dimensions are ``(READ, PHS1, PHS2, COIL, MAPS, ..., TIME=10)``; our ``(nt, nc, ny, nx)`` slice
is written with ``ny`` as BART's dimension 0 and ``nx`` as dimension 1 (the FFT is over both either way).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from cardiomm.io.cfl import read_cfl, write_cfl

TIME_DIM = 10
ECALIB_THRESH, ECALIB_CROP, ECALIB_KERNEL = 0.001, 0.8, 6


def bart_available() -> str | None:
    """Path of the ``bart`` binary, or ``None``."""
    return shutil.which("bart")


def _bart(*args: str, cwd: Path) -> None:
    exe = bart_available()
    if exe is None:
        raise RuntimeError("engine 'bart' requested but no `bart` binary is on PATH (Debian: apt-get install -y bart)")
    res = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"bart {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()[-500:]}")


def to_bart(slice_tc: np.ndarray) -> np.ndarray:
    """``(nt, nc, ny, nx)`` -> BART ``(ny, nx, 1, nc, 1, 1, 1, 1, 1, 1, nt)``."""
    nt, nc, ny, nx = slice_tc.shape
    return np.transpose(slice_tc, (2, 3, 1, 0)).reshape(ny, nx, 1, nc, *(1,) * (TIME_DIM - 4), nt)


def from_bart_image(img: np.ndarray) -> np.ndarray:
    """BART image ``(ny, nx, 1, 1, 1, ..., nt)`` (11 dimensions) -> ``(nt, ny, nx)``."""
    ny, nx, nt = img.shape[0], img.shape[1], img.shape[TIME_DIM]
    return np.transpose(img.reshape(ny, nx, nt), (2, 0, 1))


def bart_maps(y: np.ndarray, mask: np.ndarray, region: np.ndarray, calib_width: int, workdir: Path) -> np.ndarray:
    """ESPIRiT maps with ``bart ecalib`` from the frame-averaged ACS; complex64 ``(nc, ny, nx)``."""
    calib = (np.asarray(y).mean(axis=0) * region).astype(np.complex64)  # (nc, ny, nx), zero outside the ACS
    write_cfl(workdir / "calib", np.transpose(calib, (1, 2, 0))[:, :, None, :])
    _bart("ecalib", "-m", "1", "-k", str(ECALIB_KERNEL), "-r", str(calib_width), "-t", str(ECALIB_THRESH),
          "-c", str(ECALIB_CROP), "calib", "maps", cwd=workdir)
    maps = read_cfl(workdir / "maps", ndim=4)[:, :, 0, :]  # (ny, nx, nc)
    return np.ascontiguousarray(np.transpose(maps, (2, 0, 1)))


def bart_slice(reg: str, y: np.ndarray, mask: np.ndarray, region: np.ndarray, lamda: float, max_iter: int,
               calib_width: int, maps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One slice through ``bart ecalib`` + ``bart pics``.

    Parameters
    ----------
    reg: the ``pics`` regularisation with a ``{lamda}`` field (the method's :attr:`ClassicalSolver.pics`).
    y: complex ``(nt, nc, ny, nx)`` undersampled k-space; mask: ``(nt, ny, nx)``; region: bool ``(ny, nx)`` ACS
        region; lamda, max_iter: as the SigPy engine's.
    maps: use these ``(nc, ny, nx)`` maps instead of ``bart ecalib``'s (to compare solvers alone).

    Returns
    -------
    ``(image, maps)``: complex64 ``(nt, ny, nx)`` on the RSS reference's scale, and the maps used.
    """
    from cardiomm.physics.sense import sense_linop
    from cardiomm.recon.classical.problem import data_scale

    if "{lamda}" not in reg:
        raise ValueError(f"bart_slice: the pics regularisation {reg!r} has no {{lamda}} field")
    m = np.asarray(mask) != 0
    y = (np.asarray(y) * m[:, None]).astype(np.complex64)
    with tempfile.TemporaryDirectory(prefix="cardiomm_bart_") as tmp:
        wd = Path(tmp)
        if maps is None:
            maps = bart_maps(y, m, region, calib_width, wd)
        s = data_scale(sense_linop(maps, m), y)
        write_cfl(wd / "k", to_bart(y / np.float32(s)))
        write_cfl(wd / "pat", to_bart(m[:, None].astype(np.complex64)))
        write_cfl(wd / "sens", np.transpose(maps, (1, 2, 0))[:, :, None, :])
        _bart("pics", "-w", "1", "-i", str(max_iter), *reg.format(lamda=lamda).split(), "-p", "pat", "k", "sens",
              "x", cwd=wd)
        x = from_bart_image(read_cfl(wd / "x", ndim=TIME_DIM + 1))
    return (x * np.float32(s)).astype(np.complex64), maps


def bart_recon_series(reg: str, kus: np.ndarray, mask: np.ndarray, region: np.ndarray, lamda: float,
                      max_iter: int, periodic: bool = True, acs: int = 20) -> np.ndarray:
    """A whole series through BART with the ``pics`` regularisation ``reg``; checked inputs as
    :func:`cardiomm.recon.classical.series.recon_series` passes them.

    ``kus`` complex ``(nt, nz, nc, ny, nx)``, ``mask`` bool ``(nt, ny, nx)``; returns float32 ``(nt, nz, ny, nx)``
    magnitude. ``periodic`` is accepted for symmetry with the SigPy engine: BART's temporal TV is never circular.
    """
    del periodic
    nt, nz = kus.shape[:2]
    out = np.zeros((nt, nz, *kus.shape[-2:]), dtype=np.float32)
    for z in range(nz):
        x, _ = bart_slice(reg, kus[:, z], mask, region, lamda, max_iter, calib_width=acs)
        out[:, z] = np.abs(x)
    return out
