"""Centered, orthonormal 2D FFT over the last two axes (the one FFT of the project)."""

from __future__ import annotations

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


def fft1c(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Centered orthonormal 1D FFT along ``dim`` (the same centring as :func:`fft2c`: DC at index ``n // 2``)."""
    x = torch.fft.ifftshift(x, dim=dim)
    return torch.fft.fftshift(torch.fft.fft(x, dim=dim, norm="ortho"), dim=dim)


def ifft1c(k: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Centered orthonormal 1D inverse FFT along ``dim``; exact inverse of :func:`fft1c`."""
    k = torch.fft.ifftshift(k, dim=dim)
    return torch.fft.fftshift(torch.fft.ifft(k, dim=dim, norm="ortho"), dim=dim)
