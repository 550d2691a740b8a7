"""Masked multi-coil SENSE operator ``A = M F S`` and its adjoint ``A^H = S^H F^H M``."""

from __future__ import annotations

import torch

from cardiomm.physics.coils import expand, reduce
from cardiomm.physics.fft import fft2c, ifft2c


def sense_forward(x: torch.Tensor, smaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked multi-coil k-space of an image.

    Parameters
    ----------
    x: complex image ``(..., H, W)``.
    smaps: complex sensitivities ``(..., C, H, W)``.
    mask: real or bool sampling mask broadcastable to ``(..., C, H, W)`` (e.g. ``(..., 1, H, W)``).

    Returns
    -------
    complex k-space ``(..., C, H, W)``, zero where the mask is zero.
    """
    return fft2c(expand(x, smaps)) * mask


def sense_adjoint(k: torch.Tensor, smaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`sense_forward`.

    Parameters
    ----------
    k: complex k-space ``(..., C, H, W)``.
    smaps: complex sensitivities ``(..., C, H, W)``.
    mask: sampling mask broadcastable to ``(..., C, H, W)``.

    Returns
    -------
    complex image ``(..., H, W)``.
    """
    return reduce(ifft2c(k * mask), smaps)


def sense_normal(x: torch.Tensor, smaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``A^H A x`` for CG solvers; same shapes as :func:`sense_forward`'s input."""
    return sense_adjoint(sense_forward(x, smaps, mask), smaps, mask)
