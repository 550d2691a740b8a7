"""The least-squares problem every iterative classical solver fits on one slice, in units of its zero-filled image.

``A = P F S`` is the SENSE operator of :func:`cardiomm.physics.sense.sense_linop` with the slice's ESPIRiT maps
(:mod:`cardiomm.recon.classical.espirit`), in its fast form on even grids (uncentred FFT, centring moved into the
maps and the data, only the sampled points kept) and its centred form otherwise. Scaling: the maps have unit RSS,
the FFT is orthonormal and the mask is 0/1, so ``||A|| <= 1`` (step sizes are set from that bound, no power
iteration) and ``|x|`` is on the RSS reference's scale. The l1 and nuclear-norm terms are not scale-invariant, so
the data of each slice are divided by the 99th percentile of ``|A^H y|`` (the coil-combined zero-filled image)
before solving, and the result is multiplied back: weights are relative to an image of unit magnitude, whatever
the scanner's units (BART's ``pics`` scales its data in the same spirit, :mod:`cardiomm.recon.classical.bart`
divides by this scale too). Arithmetic is complex64 throughout.
"""

from __future__ import annotations

import numpy as np
import sigpy as sp

from cardiomm.physics.fft import modulate_data
from cardiomm.physics.linops import Sample
from cardiomm.physics.sense import sense_linop

SCALE_PERCENTILE = 99.0


def data_scale(A: sp.linop.Linop, y: np.ndarray) -> float:
    """The 99th percentile of ``|A^H y|``: the unit of the weights (see the module docstring)."""
    s = float(np.percentile(np.abs(A.H(y)), SCALE_PERCENTILE))
    if not np.isfinite(s) or s <= 0:
        raise ValueError("the undersampled k-space of a slice is empty (zero-filled image is 0): nothing to solve")
    return s


def scaled_problem(y: np.ndarray, maps: np.ndarray, mask: np.ndarray) -> tuple[sp.linop.Linop, np.ndarray, float]:
    """``(A, y / s, s)``: the fast operator and data (even grids; centred ones otherwise), scaled by ``s``.

    ``y`` complex ``(nt, nc, ny, nx)`` undersampled k-space of the slice, ``maps`` ``(nc, ny, nx)``, ``mask``
    ``(nt, ny, nx)``; ``A`` maps images ``(nt, ny, nx)`` to the data ``y / s`` fits.
    """
    m = np.asarray(mask) != 0
    y = np.asarray(y) * m[:, None]
    fast = y.shape[-2] % 2 == 0 and y.shape[-1] % 2 == 0
    A = sense_linop(maps, m, centred=not fast)
    y = Sample(y.shape, m)(modulate_data(y)) if fast else y.astype(np.complex64)
    s = data_scale(A, y)
    return A, (y / np.float32(s)).astype(np.complex64), s
