"""Masked multi-coil SENSE operator ``A = M F S`` as a SigPy-style object with ``.H`` (adjoint) and ``.N`` (normal).

:class:`SenseOp` is the one data-consistency operator of the package: the networks build it from their
coil maps and mask (:mod:`cardiomm.recon.learned.networks`), and the functions :func:`sense_forward`,
:func:`sense_adjoint` and :func:`sense_normal` are thin views of it. Every operator here is checked by the
generic adjoint test of ``tests/test_physics.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cardiomm.physics.coils import expand, reduce
from cardiomm.physics.fft import fft2c, ifft2c


class SenseOp:
    """``A x = M F (S x)``: image ``(..., H, W)`` -> masked multi-coil k-space ``(..., C, H, W)``.

    Parameters
    ----------
    maps: complex sensitivities ``(..., C, H, W)``.
    mask: real or bool sampling mask broadcastable to ``(..., C, H, W)`` (e.g. ``(..., 1, H, W)``);
        ``None`` = fully sampled (``A = F S``, used for the unmasked coil transforms of the cascades).

    ``A.H`` is the adjoint ``S^H F^H M`` (k-space -> image) and ``A.N = A.H A`` (image -> image).
    """

    def __init__(self, maps: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        if maps.ndim < 3 or not maps.is_complex():
            raise ValueError(f"SenseOp: maps must be complex (..., C, H, W), got {maps.dtype} {tuple(maps.shape)}")
        if mask is not None and tuple(mask.shape[-2:]) != tuple(maps.shape[-2:]):
            raise ValueError(f"SenseOp: mask (H, W) {tuple(mask.shape[-2:])} != maps (H, W) {tuple(maps.shape[-2:])}")
        self.maps = maps
        self.mask = mask

    @property
    def ishape(self) -> tuple[int, ...]:
        """Image shape ``(..., H, W)`` (batch axes of the maps)."""
        return (*self.maps.shape[:-3], *self.maps.shape[-2:])

    @property
    def oshape(self) -> tuple[int, ...]:
        """k-space shape ``(..., C, H, W)``."""
        return tuple(self.maps.shape)

    def _masked(self, k: torch.Tensor) -> torch.Tensor:
        return k if self.mask is None else k * self.mask

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Forward: complex image ``(..., H, W)`` -> complex k-space ``(..., C, H, W)``, zero outside the mask."""
        return self._masked(fft2c(expand(x, self.maps)))

    def adjoint(self, k: torch.Tensor) -> torch.Tensor:
        """Adjoint: complex k-space ``(..., C, H, W)`` -> complex image ``(..., H, W)``."""
        return reduce(ifft2c(self._masked(k)), self.maps)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^H A x``: complex image ``(..., H, W)`` -> complex image ``(..., H, W)``."""
        return self.adjoint(self(x))

    @property
    def H(self) -> _Adjoint:  # noqa: N802 - SigPy's name
        return _Adjoint(self)

    @property
    def N(self) -> _Normal:  # noqa: N802 - SigPy's name
        return _Normal(self)

    def unmasked(self) -> SenseOp:
        """The same maps without the mask (``F S``): coil transforms of a predicted, full k-space."""
        return SenseOp(self.maps)


class _Adjoint:
    """``A.H``: applies :meth:`SenseOp.adjoint`; its own ``.H`` is ``A`` again."""

    def __init__(self, op: SenseOp) -> None:
        self.op = op
        self.ishape, self.oshape = op.oshape, op.ishape

    def __call__(self, k: torch.Tensor) -> torch.Tensor:
        return self.op.adjoint(k)

    @property
    def H(self) -> SenseOp:  # noqa: N802
        return self.op


class _Normal:
    """``A.N = A.H A`` (self-adjoint: ``.H`` is itself)."""

    def __init__(self, op: SenseOp) -> None:
        self.op = op
        self.ishape = self.oshape = op.ishape

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.op.normal(x)

    @property
    def H(self) -> _Normal:  # noqa: N802
        return self


#: how networks receive the operator: a constructor ``op(maps, mask)`` (``SenseOp`` itself by default)
OperatorFactory = Callable[[torch.Tensor, "torch.Tensor | None"], SenseOp]


def sense_forward(x: torch.Tensor, smaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``SenseOp(smaps, mask)(x)``: complex image ``(..., H, W)`` -> masked k-space ``(..., C, H, W)``."""
    return SenseOp(smaps, mask)(x)


def sense_adjoint(k: torch.Tensor, smaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``SenseOp(smaps, mask).H(k)``: complex k-space ``(..., C, H, W)`` -> image ``(..., H, W)``."""
    return SenseOp(smaps, mask).H(k)


def sense_normal(x: torch.Tensor, smaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``SenseOp(smaps, mask).N(x)`` (``A^H A x`` for CG solvers): image ``(..., H, W)`` -> same shape."""
    return SenseOp(smaps, mask).N(x)
