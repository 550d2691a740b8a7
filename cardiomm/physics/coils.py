"""Coil combination: expand an image by sensitivity maps, reduce coil images, root-sum-of-squares."""

from __future__ import annotations

import torch


def expand(x: torch.Tensor, smaps: torch.Tensor) -> torch.Tensor:
    """Coil images from one image.

    Parameters
    ----------
    x: complex image ``(..., H, W)``.
    smaps: complex sensitivities ``(..., C, H, W)``.

    Returns
    -------
    ``(..., C, H, W)`` complex coil images ``S_c x``.
    """
    return smaps * x.unsqueeze(-3)


def reduce(coil_images: torch.Tensor, smaps: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`expand`: ``sum_c conj(S_c) y_c``.

    Parameters
    ----------
    coil_images: complex ``(..., C, H, W)``.
    smaps: complex ``(..., C, H, W)``.

    Returns
    -------
    complex image ``(..., H, W)``.
    """
    return (smaps.conj() * coil_images).sum(dim=-3)


def rss(coil_images: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Root-sum-of-squares magnitude over the coil axis.

    Parameters
    ----------
    coil_images: complex or real ``(..., C, H, W)``.

    Returns
    -------
    real ``(..., H, W)``.
    """
    return torch.sqrt((coil_images.abs() ** 2).sum(dim=dim))


def normalize_smaps(smaps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Divide sensitivities by their RSS so that ``sum_c |S_c|^2 = 1`` wherever there is signal.

    Parameters
    ----------
    smaps: complex ``(..., C, H, W)``.
    """
    return smaps / (rss(smaps).unsqueeze(-3) + eps)
