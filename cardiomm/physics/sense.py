"""The one SENSE operator algebra ``A = M F S``: a SigPy-style torch object with ``.H`` (adjoint) and ``.N``
(normal), and its SigPy view for the classical solvers.

:class:`SenseOp` is the data-consistency operator of every network: they receive its constructor as ``op`` and
build it from their coil maps and mask (:mod:`cardiomm.recon.learned.networks`), for every transform they make,
the ACS coil images included (``op(None, acs).H``: ``S = I``, :func:`cardiomm.physics.coilmaps.acs_coil_images`).
:func:`sense_linop` (also :meth:`SenseOp.linop`) is the same ``A`` as a :class:`sigpy.linop.Linop` composition
``P * F * S``, which every SigPy solver of :mod:`cardiomm.recon.classical` (SENSE, CS, k-t TV, L+S) and the BART
engine's data scaling use. The functions :func:`sense_forward`, :func:`sense_adjoint` and :func:`sense_normal`
are thin views of :class:`SenseOp`. Every operator here is checked by the generic adjoint test of
``tests/test_physics.py``. SigPy is imported only when a SigPy view is built (the networks never import it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from cardiomm.physics.coils import expand, reduce
from cardiomm.physics.fft import centring_modulation, fft2c, ifft2c

if TYPE_CHECKING:
    import sigpy as sp


class SenseOp:
    """``A x = M F (S x)``: image ``(..., H, W)`` -> masked multi-coil k-space ``(..., C, H, W)``.

    Parameters
    ----------
    maps: complex sensitivities ``(..., C, H, W)``; ``None``: ``S = I``, the operator of coil images
        ``(..., C, H, W)`` -> their masked k-space (``A.H`` of k-space is its coil images, e.g. the ACS's).
    mask: real or bool sampling mask broadcastable to ``(..., C, H, W)`` (e.g. ``(..., 1, H, W)``);
        ``None`` = fully sampled (``A = F S``, used for the unmasked coil transforms of the cascades).

    ``A.H`` is the adjoint ``S^H F^H M`` (k-space -> image) and ``A.N = A.H A`` (image -> image).
    """

    def __init__(self, maps: torch.Tensor | None, mask: torch.Tensor | None = None) -> None:
        if maps is not None and (maps.ndim < 3 or not maps.is_complex()):
            raise ValueError(f"SenseOp: maps must be complex (..., C, H, W), got {maps.dtype} {tuple(maps.shape)}")
        if maps is None and mask is None:
            raise ValueError("SenseOp: without maps the operator needs a mask (its shape is the mask's)")
        if maps is not None and mask is not None and tuple(mask.shape[-2:]) != tuple(maps.shape[-2:]):
            raise ValueError(f"SenseOp: mask (H, W) {tuple(mask.shape[-2:])} != maps (H, W) {tuple(maps.shape[-2:])}")
        self.maps = maps
        self.mask = mask

    @property
    def ishape(self) -> tuple[int, ...]:
        """Image shape ``(..., H, W)`` (batch axes of the maps); coil images ``(..., C, H, W)`` without maps."""
        if self.maps is None:
            return tuple(self.mask.shape)
        return (*self.maps.shape[:-3], *self.maps.shape[-2:])

    @property
    def oshape(self) -> tuple[int, ...]:
        """k-space shape ``(..., C, H, W)``."""
        return tuple(self.mask.shape) if self.maps is None else tuple(self.maps.shape)

    def _masked(self, k: torch.Tensor) -> torch.Tensor:
        return k if self.mask is None else k * self.mask

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Forward: complex image ``(..., H, W)`` -> complex k-space ``(..., C, H, W)``, zero outside the mask."""
        return self._masked(fft2c(x if self.maps is None else expand(x, self.maps)))

    def adjoint(self, k: torch.Tensor) -> torch.Tensor:
        """Adjoint: complex k-space ``(..., C, H, W)`` -> complex image ``(..., H, W)`` (coil images without maps)."""
        coils = ifft2c(self._masked(k))
        return coils if self.maps is None else reduce(coils, self.maps)

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

    def linop(self) -> sp.linop.Linop:
        """This operator as a SigPy linop (:func:`sense_linop`): maps ``(C, H, W)`` shared by every frame, mask
        ``(T, 1, H, W)`` or ``(T, H, W)`` (one frame per ``T``) or ``(H, W)``; CPU arrays of the same memory."""
        if self.maps is None or self.maps.ndim != 3 or self.mask is None:
            raise ValueError("SenseOp.linop: needs maps (C, H, W) and a mask")
        mask = self.mask.detach().cpu().numpy()
        return sense_linop(self.maps.detach().cpu().numpy(), mask[:, 0] if mask.ndim == 4 else mask)


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
OperatorFactory = Callable[["torch.Tensor | None", "torch.Tensor | None"], SenseOp]


def sense_linop(maps: np.ndarray, mask: np.ndarray, centred: bool = True) -> sp.linop.Linop:
    """The SENSE operator ``A = P F S`` as a SigPy linop: one frame, or the frames of one slice sharing its maps.

    Parameters
    ----------
    maps: complex ``(nc, ny, nx)`` sensitivity maps.
    mask: 0/1 sampling mask, ``(ny, nx)`` (one frame) or ``(nt, ny, nx)`` (the frames of a slice).
    centred: ``True``: SigPy's centred orthonormal FFT (the convention of :func:`cardiomm.physics.fft.fft2c`).
        ``False`` (frames, even ``ny``, ``nx``): the fast form the k-t solvers fit, the uncentred
        :class:`cardiomm.physics.linops.FFT2` with the maps multiplied by the centring modulation
        (:func:`cardiomm.physics.fft.centring_modulation`) and the mask as :class:`~cardiomm.physics.linops.Sample`;
        it fits ``Sample(modulate_data(y))`` (:func:`cardiomm.physics.fft.modulate_data`) with the same residual norm,
        hence the same ``x``.

    Returns
    -------
    One frame: ``(ny, nx)`` -> ``(nc, ny, nx)``, composed as :func:`sigpy.mri.linop.Sense` composes it with
    ``weights=mask`` (so CG-SENSE on it is :class:`sigpy.mri.app.SenseRecon`'s). Frames: ``(nt, ny, nx)`` ->
    ``(nt, nc, ny, nx)`` (centred: coil weighting, 2D FFT, the frame's mask) or the ``(K, nc)`` sampled values (fast).
    """
    import sigpy as sp

    m = (np.asarray(mask) != 0).astype(np.float32)
    if m.ndim == 2:
        if not centred:
            raise ValueError("sense_linop: the fast form is for the frames of a slice (mask (nt, ny, nx))")
        if np.asarray(maps).ndim != 3 or np.asarray(maps).shape[1:] != m.shape:
            raise ValueError(f"sense_linop: maps (nc, ny, nx) {np.shape(maps)} and mask (ny, nx) {m.shape} disagree")
        S = sp.linop.Multiply(maps.shape[1:], maps)
        F = sp.linop.FFT(S.oshape, axes=range(-2, 0))
        return sp.linop.Multiply(F.oshape, m**0.5) * (F * S)  # a 0/1 mask: its square root (SigPy's weights**0.5)
    maps = np.asarray(maps, dtype=np.complex64)
    if maps.ndim != 3 or m.ndim != 3 or m.shape[1:] != maps.shape[1:]:
        raise ValueError(f"sense_linop: maps (nc, ny, nx) {maps.shape} and mask (nt, ny, nx) {m.shape} disagree")
    nt, (nc, ny, nx) = m.shape[0], maps.shape
    if centred:
        F = sp.linop.FFT((nt, nc, ny, nx), axes=(-2, -1), center=True)
        P = sp.linop.Multiply((nt, nc, ny, nx), m[:, None])
    else:
        from cardiomm.physics.linops import FFT2, Sample

        maps = maps * centring_modulation(ny, nx)[0]
        F = FFT2((nt, nc, ny, nx))
        P = Sample((nt, nc, ny, nx), m)
    R = sp.linop.Reshape((nt, 1, ny, nx), (nt, ny, nx))
    S = sp.linop.Multiply((nt, 1, ny, nx), maps[None])
    return P * F * S * R


def sense_forward(x: torch.Tensor, smaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``SenseOp(smaps, mask)(x)``: complex image ``(..., H, W)`` -> masked k-space ``(..., C, H, W)``."""
    return SenseOp(smaps, mask)(x)


def sense_adjoint(k: torch.Tensor, smaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``SenseOp(smaps, mask).H(k)``: complex k-space ``(..., C, H, W)`` -> image ``(..., H, W)``."""
    return SenseOp(smaps, mask).H(k)


def sense_normal(x: torch.Tensor, smaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``SenseOp(smaps, mask).N(x)`` (``A^H A x`` for CG solvers): image ``(..., H, W)`` -> same shape."""
    return SenseOp(smaps, mask).N(x)
