"""SigPy linear operators that SigPy lacks, for the SENSE view of :mod:`cardiomm.physics.sense` and the k-t solvers.

Each is a :class:`sigpy.linop.Linop` with explicit shapes and its adjoint, checked by the generic operator test
(``tests/test_physics.py``). SigPy is imported here, never by the torch side of :mod:`cardiomm.physics` (the
networks): this module is imported only where a SigPy operator is built.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sigpy as sp

from cardiomm.physics.fft import fft2_uncentred, ifft2_uncentred


class Unitary(sp.linop.Linop):
    """A unitary transform given by its two functions: ``(...)`` -> same shape; the adjoint is ``inverse``.

    ``forward`` and ``inverse`` must be exact inverses of one another and norm-preserving (``norm="ortho"``); the
    adjoint is then the same class with the two swapped, so a transform and its inverse are one definition.
    ``name`` labels it in SigPy's repr.
    """

    def __init__(self, shape: tuple[int, ...], forward: Callable[[np.ndarray], np.ndarray],
                 inverse: Callable[[np.ndarray], np.ndarray], name: str):
        self.forward, self.inverse = forward, inverse
        super().__init__(tuple(shape), tuple(shape), repr_str=name)

    def _apply(self, input: np.ndarray) -> np.ndarray:
        return self.forward(input)

    def _adjoint_linop(self) -> sp.linop.Linop:
        return Unitary(self.ishape, self.inverse, self.forward, f"{self.repr_str}^H")


def FFT2(shape: tuple[int, ...]) -> Unitary:  # noqa: N802 (an operator, named as SigPy names its linops)
    """Orthonormal, *uncentred* 2D FFT over the last two axes (:func:`cardiomm.physics.fft.fft2_uncentred`).

    SigPy's own :class:`sigpy.linop.FFT` calls :mod:`numpy.fft` and shifts twice per call; this one is about twice
    as fast on the CPU. The centring is moved into the maps and the data instead
    (:func:`cardiomm.physics.fft.centring_modulation`).
    """
    return Unitary(shape, fft2_uncentred, ifft2_uncentred, "FFT2")


class Sample(sp.linop.Linop):
    """The sampled entries of multi-coil k-space: ``(nt, nc, ny, nx)`` -> ``(K, nc)``, ``K`` = sampled points.

    Equivalent to multiplying by the 0/1 mask for a least-squares fit, but the solvers' dual and residual
    variables then live on the ``K`` sampled points only (R times fewer than the grid).
    """

    def __init__(self, ishape: tuple[int, ...], mask: np.ndarray):
        m = np.asarray(mask) != 0
        nt, nc, ny, nx = ishape
        if m.shape != (nt, ny, nx):
            raise ValueError(f"Sample: mask shape {m.shape} != (nt, ny, nx) {(nt, ny, nx)}")
        self.mask = m
        self.index = np.nonzero(m)
        super().__init__((int(m.sum()), nc), tuple(ishape))

    def _apply(self, input: np.ndarray) -> np.ndarray:
        t, y, x = self.index
        return input[t, :, y, x]

    def _adjoint_linop(self) -> sp.linop.Linop:
        return Scatter(self.ishape, self.mask)


class Scatter(sp.linop.Linop):
    """Adjoint of :class:`Sample`: put ``(K, nc)`` values back on the zero-filled grid ``(nt, nc, ny, nx)``."""

    def __init__(self, oshape: tuple[int, ...], mask: np.ndarray):
        self.mask = np.asarray(mask) != 0
        self.index = np.nonzero(self.mask)
        super().__init__(tuple(oshape), (int(self.mask.sum()), oshape[1]))

    def _apply(self, input: np.ndarray) -> np.ndarray:
        out = np.zeros(self.oshape, dtype=input.dtype)
        t, y, x = self.index
        out[t, :, y, x] = input
        return out

    def _adjoint_linop(self) -> sp.linop.Linop:
        return Sample(self.oshape, self.mask)
