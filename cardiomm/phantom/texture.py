"""Smooth, bounded random tissue texture of the phantom (per subject, deterministic in its seed).

A texture is a multiplicative modulation ``m = 1 + amplitude * tanh(g)`` of a tissue's proton density, where
``g`` is a zero-mean, unit-variance Gaussian-like random field built from ``n_modes`` random plane waves
(random Fourier features) with wavelengths around ``corr_mm`` (0.7-1.4x). ``|m - 1| < amplitude`` holds exactly.

Texture modulates the proton density (signal amplitude) only, never T1/T2/T1rho: the parameter truth stays the
tissue-class values, so the mapping truth remains exact, and amplitude cancels in the relaxation fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RandomField:
    """Random plane waves: ``k`` ``(n_modes, 3)`` in rad/mm and phases ``phi`` ``(n_modes,)``."""

    k: np.ndarray
    phi: np.ndarray

    def __call__(self, x: np.ndarray, y: np.ndarray, z: float) -> np.ndarray:
        """Unit-variance field at points ``(x, y)`` (mm, any equal shape ``S``) of the plane at ``z``; shape ``S``."""
        m = len(self.phi)
        arg = (self.k[:, 0, None] * x.reshape(-1)[None] + self.k[:, 1, None] * y.reshape(-1)[None]
               + self.k[:, 2, None] * z + self.phi[:, None])
        return (np.sqrt(2.0 / m) * np.cos(arg).sum(0)).reshape(x.shape)


def random_field(rng: np.random.Generator, corr_mm: float, n_modes: int = 32) -> RandomField:
    """A smooth random field with wavelengths about ``corr_mm`` (isotropic 3D directions, 0.7-1.4x)."""
    d = rng.standard_normal((n_modes, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    wavelength = corr_mm * rng.uniform(0.7, 1.4, n_modes)
    return RandomField(d * (2 * np.pi / wavelength)[:, None], rng.uniform(0, 2 * np.pi, n_modes))


def bounded_modulation(g: np.ndarray, amplitude: float) -> np.ndarray:
    """``1 + amplitude * tanh(g)``: a modulation strictly inside ``(1 - amplitude, 1 + amplitude)``."""
    if not 0 <= amplitude < 1:
        raise ValueError(f"phantom texture amplitude must be in [0, 1), got {amplitude}")
    return 1.0 + amplitude * np.tanh(g)
