"""Receive-coil simulation: loop coils around the torso, correlated noise, SVD coil compression."""

from __future__ import annotations

import numpy as np


def coil_positions(n_coils: int, ax: float, ay: float, z_span: float, rng: np.random.Generator) -> np.ndarray:
    """Centres ``(n_coils, 3)`` in mm of an anterior and a posterior array just outside the torso ellipse.

    Half the elements sit anteriorly (y < 0) and half posteriorly, in two rows along z, with a small jitter.
    """
    n_ant = n_coils // 2
    out = []
    for k in range(n_coils):
        ant = k < n_ant
        m = n_ant if ant else n_coils - n_ant
        j = k if ant else k - n_ant
        rows = 2 if m >= 4 else 1
        per_row = int(np.ceil(m / rows))
        col, row = j % per_row, j // per_row
        phi = np.pi * (0.2 + 0.6 * (col + 0.5) / per_row)  # spread over the front/back arc
        x = -np.cos(phi) * (ax + 15)
        y = (-1 if ant else 1) * np.sin(phi) * (ay + 15)
        z = (row - (rows - 1) / 2) * z_span / max(rows, 1)
        out.append([x + rng.normal(0, 5), y + rng.normal(0, 5), z + rng.normal(0, 5)])
    return np.asarray(out)


def sensitivities(pos: np.ndarray, x: np.ndarray, y: np.ndarray, z: float, d0: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Smooth complex sensitivities ``(n_coils, ny, nx)`` of loop coils at ``pos`` on the slice at ``z``.

    Magnitude falls off as ``(1 + (d/d0)^2)^-1.5`` (the on-axis field of a loop of radius ``d0``);
    the phase is a smooth linear ramp plus an offset per coil, as in measured maps.
    """
    maps = []
    for c, (px, py, pz) in enumerate(pos):
        d2 = (x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2
        mag = (1 + d2 / d0**2) ** -1.5
        phase = 2 * np.pi * c / len(pos) + 0.004 * ((x - px) * np.cos(c) + (y - py) * np.sin(c))
        maps.append(mag * np.exp(1j * phase))
    return np.asarray(maps, dtype=np.complex64)


def noise_covariance(n_coils: int, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Hermitian positive-definite noise covariance with unit diagonal and correlation ~``rho`` between
    neighbouring coils, plus small random variation of the per-coil noise level."""
    idx = np.arange(n_coils)
    cov = rho ** np.abs(idx[:, None] - idx[None]).astype(float)
    scale = np.exp(rng.normal(0, 0.1, n_coils))
    return (scale[:, None] * cov * scale[None]).astype(np.complex128)


def correlated_noise(shape: tuple, cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Complex Gaussian noise with coil covariance ``cov`` (``E[n n^H] = cov``); ``shape = (..., C, H, W)``."""
    L = np.linalg.cholesky(cov).astype(np.complex64)
    w = rng.standard_normal((2, *shape), dtype=np.float32)
    w = (w[0] + 1j * w[1]) * np.float32(1 / np.sqrt(2))
    *lead, C, H, W = shape
    return np.matmul(L, w.astype(np.complex64).reshape(*lead, C, H * W)).reshape(shape)  # BLAS, not einsum


def compression_matrix(cov: np.ndarray, n_virtual: int) -> np.ndarray:
    """SVD (PCA) coil-compression matrix ``(n_virtual, C)`` from a coil covariance ``(C, C)``: the conjugated
    eigenvectors of the ``n_virtual`` largest eigenvalues (rows orthonormal)."""
    C = cov.shape[0]
    if n_virtual >= C:
        return np.eye(C, dtype=np.complex64)
    _, vecs = np.linalg.eigh(cov)
    return vecs[:, ::-1][:, :n_virtual].conj().T.astype(np.complex64)


def apply_compression(kspace: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Project ``(nt, nz, C, ny, nx)`` k-space onto virtual coils: ``(nt, nz, n_virtual, ny, nx)`` complex64."""
    return np.einsum("vc,tzcyx->tzvyx", A.astype(np.complex64), kspace.astype(np.complex64, copy=False))


def compress(kspace: np.ndarray, n_virtual: int) -> np.ndarray:
    """SVD (PCA) coil compression of ``(nt, nz, C, ny, nx)`` k-space to ``n_virtual`` virtual coils, using the
    data's own coil covariance over the whole series."""
    C = kspace.shape[2]
    if n_virtual >= C:
        return kspace.astype(np.complex64)
    flat = np.moveaxis(kspace, 2, 0).reshape(C, -1)
    return apply_compression(kspace, compression_matrix(flat @ flat.conj().T, n_virtual))
