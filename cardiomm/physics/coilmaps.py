"""Coil maps from the ACS region, shared by every network and the data pipeline.

``calibration_region`` is the one ACS fallback rule (a frame whose ACS was not sampled calibrates on all its
sampled points), ``acs_coil_images`` the one start of every sensitivity estimate (the ACS-only coil images),
``acs_smaps`` the parameter-free maps, ``zero_filled_image`` the coil-combined zero-filled image.
"""

from __future__ import annotations

import torch

from cardiomm.physics.coils import normalize_smaps
from cardiomm.physics.sense import OperatorFactory, SenseOp


def calibration_region(acs: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
    """The sampled ACS points of each frame, or every sampled point where none of its ACS was sampled.

    Parameters
    ----------
    acs: bool/float ``(B, 1, H, W)`` ACS region.
    sampled: bool ``(B, 1, H, W)`` sampling mask.

    Returns
    -------
    bool ``(B, 1, H, W)`` (aliased maps for an ACS-less frame, but never all-zero ones).
    """
    region = acs.bool() & sampled
    return torch.where(region.flatten(1).any(1)[:, None, None, None], region, sampled)


def acs_coil_images(kspace: torch.Tensor, acs: torch.Tensor, op: OperatorFactory = SenseOp) -> torch.Tensor:
    """Coil images of the ACS region only, ``F^-1 (k * acs)``: complex ``(..., C, H, W)``.

    ``acs``: bool/float ``(..., 1, H, W)`` or ``(H, W)``; ``op``: the operator's constructor (a network's injected
    one), built without maps (``S = I``) and the ACS as its mask, so the transform is ``op(None, acs).H``.
    """
    return op(None, acs.to(kspace.real.dtype)).H(kspace)


def acs_smaps(kspace: torch.Tensor, acs: torch.Tensor, op: OperatorFactory = SenseOp) -> torch.Tensor:
    """Low-resolution sensitivity maps from the ACS region: ``normalize_smaps(F^-1 (k * acs))``.

    Parameters
    ----------
    kspace: complex ``(..., C, H, W)`` (undersampled) k-space.
    acs: bool/float ``(..., 1, H, W)`` or ``(H, W)`` ACS region.

    Returns
    -------
    complex ``(..., C, H, W)`` maps with unit RSS; scale-free (independent of the k-space scale).
    """
    return normalize_smaps(acs_coil_images(kspace, acs, op))


def zero_filled_image(kspace: torch.Tensor, smaps: torch.Tensor, op: OperatorFactory = SenseOp) -> torch.Tensor:
    """Coil-combined zero-filled image ``S^H F^-1 k``: complex ``(..., C, H, W)`` -> ``(..., H, W)``."""
    return op(smaps, None).H(kspace)
