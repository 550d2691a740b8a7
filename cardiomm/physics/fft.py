"""Centered, orthonormal 2D FFT over the last two axes (the one FFT of the project): on torch tensors (networks,
reference, data) and on NumPy arrays (the SigPy solvers' operators, the phantom)."""

from __future__ import annotations

import numpy as np
import torch

_DIMS = (-2, -1)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centered orthonormal 2D FFT.

    Parameters
    ----------
    x: complex image of shape ``(..., H, W)``.

    Returns
    -------
    complex k-space of shape ``(..., H, W)``, DC at index ``(H // 2, W // 2)``.
    """
    x = torch.fft.ifftshift(x, dim=_DIMS)
    k = torch.fft.fft2(x, dim=_DIMS, norm="ortho")
    return torch.fft.fftshift(k, dim=_DIMS)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Centered orthonormal 2D inverse FFT; exact inverse of :func:`fft2c`.

    Parameters
    ----------
    k: complex k-space of shape ``(..., H, W)``, DC at ``(H // 2, W // 2)``.

    Returns
    -------
    complex image of shape ``(..., H, W)``.
    """
    k = torch.fft.ifftshift(k, dim=_DIMS)
    x = torch.fft.ifft2(k, dim=_DIMS, norm="ortho")
    return torch.fft.fftshift(x, dim=_DIMS)


# ---------------------------------------------------------------------------------------------- NumPy arrays
# The same transforms on NumPy arrays (scipy.fft, one worker: the workflow limits threads per job), for the SigPy
# solvers (cardiomm.physics.sense.sense_linop) and the phantom. scipy.fft keeps complex64 complex64.


def fft2c_array(x: np.ndarray, norm: str = "ortho") -> np.ndarray:
    """Centred 2D FFT of a NumPy array over the last two axes (``norm``: ``"ortho"``, or ``"backward"``: unscaled
    forward, as the phantom's band-limiting uses it); ``(..., H, W)`` -> same shape, DC at ``(H // 2, W // 2)``."""
    import scipy.fft as sfft

    return sfft.fftshift(sfft.fft2(sfft.ifftshift(x, axes=_DIMS), axes=_DIMS, norm=norm, workers=1), axes=_DIMS)


def ifft2c_array(k: np.ndarray, norm: str = "ortho") -> np.ndarray:
    """Centred 2D inverse FFT of a NumPy array (``norm`` as :func:`fft2c_array`: the exact inverse of it)."""
    import scipy.fft as sfft

    return sfft.fftshift(sfft.ifft2(sfft.ifftshift(k, axes=_DIMS), axes=_DIMS, norm=norm, workers=1), axes=_DIMS)


def fft2_uncentred(x: np.ndarray) -> np.ndarray:
    """Orthonormal *uncentred* 2D FFT over the last two axes: the solvers' fast form (no shifts), with the centring
    moved into a modulation (:func:`centring_modulation`)."""
    import scipy.fft as sfft

    return sfft.fft2(x, norm="ortho", workers=1)


def ifft2_uncentred(k: np.ndarray) -> np.ndarray:
    """Inverse of :func:`fft2_uncentred`."""
    import scipy.fft as sfft

    return sfft.ifft2(k, norm="ortho", workers=1)


def centring_modulation(ny: int, nx: int) -> tuple[np.ndarray, float]:
    """``(mod, sign)`` with ``fftshift(fft2(ifftshift(v))) = sign * mod * fft2(mod * v)`` for even ``ny``, ``nx``.

    ``mod = (-1)^(i + j)`` (float32 ``(ny, nx)``) and ``sign = (-1)^(ny/2 + nx/2)``: a half-grid shift in one domain
    is a checkerboard modulation in the other.
    """
    if ny % 2 or nx % 2:
        raise ValueError(f"centring_modulation: needs even ny, nx, got {(ny, nx)}")
    mod = ((-1.0) ** np.add.outer(np.arange(ny), np.arange(nx))).astype(np.float32)
    return mod, float((-1) ** (ny // 2 + nx // 2))


def modulate_data(y: np.ndarray) -> np.ndarray:
    """Centred k-space ``(..., ny, nx)`` -> the k-space the uncentred fast form fits (complex64):
    ``sign * mod * y`` (:func:`centring_modulation`)."""
    mod, sign = centring_modulation(*y.shape[-2:])
    return (np.asarray(y) * (sign * mod)).astype(np.complex64)


def fft1c(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Centered orthonormal 1D FFT along ``dim`` (the same centring as :func:`fft2c`: DC at index ``n // 2``)."""
    x = torch.fft.ifftshift(x, dim=dim)
    return torch.fft.fftshift(torch.fft.fft(x, dim=dim, norm="ortho"), dim=dim)


def ifft1c(k: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Centered orthonormal 1D inverse FFT along ``dim``; exact inverse of :func:`fft1c`."""
    k = torch.fft.ifftshift(k, dim=dim)
    return torch.fft.fftshift(torch.fft.ifft(k, dim=dim, norm="ortho"), dim=dim)
