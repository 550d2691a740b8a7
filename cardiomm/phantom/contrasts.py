"""Signal equations of the simulated sequences (pure functions of tissue parameters).

All times in ms, angles in degrees. Each returns the (real, possibly signed) signal per tissue;
the images are then ``sum_tissue fraction * signal`` times a smooth background phase.
"""

from __future__ import annotations

import numpy as np


def bssfp(pd: np.ndarray, t1: np.ndarray, t2: np.ndarray, flip_deg: float, tr_ms: float) -> np.ndarray:
    """Balanced SSFP steady-state magnitude at TE = TR/2 (on-resonance).

    ``S = PD sin(a) (1 - E1) / (1 - (E1 - E2) cos(a) - E1 E2) * sqrt(E2)``, ``E = exp(-TR / T)``.
    """
    a = np.deg2rad(flip_deg)
    e1, e2 = np.exp(-tr_ms / t1), np.exp(-tr_ms / t2)
    return pd * np.sin(a) * (1 - e1) / (1 - (e1 - e2) * np.cos(a) - e1 * e2) * np.sqrt(e2)


def molli_apparent(t1: np.ndarray, tau_ll_ms: float) -> np.ndarray:
    """Apparent (Look-Locker) relaxation time ``T1* = 1 / (1/T1 + 1/tau_LL)`` of the MOLLI readout."""
    return 1.0 / (1.0 / t1 + 1.0 / tau_ll_ms)


def molli(pd: np.ndarray, t1: np.ndarray, ti_ms: np.ndarray, tau_ll_ms: float = 5000.0) -> np.ndarray:
    """MOLLI signal (signed) at inversion times ``ti_ms``: ``S = A - B exp(-TI / T1*)``.

    With ``A = PD T1*/T1`` and ``B = A + PD`` the Look-Locker correction ``T1 = T1* (B/A - 1)`` is exact,
    so a three-parameter fit of noiseless data recovers T1.

    Parameters
    ----------
    pd, t1: ``(n_tissues,)``.
    ti_ms: ``(n_images,)``.

    Returns
    -------
    ``(n_images, n_tissues)``.
    """
    t1s = molli_apparent(t1, tau_ll_ms)
    a = pd * t1s / t1
    b = a + pd
    return a[None] - b[None] * np.exp(-np.asarray(ti_ms, float)[:, None] / t1s[None])


def t2prep(pd: np.ndarray, t1: np.ndarray, t2: np.ndarray, te_ms: np.ndarray, trec_ms: float = 3000.0) -> np.ndarray:
    """T2-prepared signal ``PD (1 - exp(-Trec/T1)) exp(-TE / T2)``; returns ``(n_images, n_tissues)``."""
    return (pd * (1 - np.exp(-trec_ms / t1)))[None] * np.exp(-np.asarray(te_ms, float)[:, None] / t2[None])


def t1rho_prep(pd: np.ndarray, t1: np.ndarray, t1rho: np.ndarray, tsl_ms: np.ndarray,
               trec_ms: float = 3000.0) -> np.ndarray:
    """Spin-lock prepared signal ``PD (1 - exp(-Trec/T1)) exp(-TSL / T1rho)``; ``(n_images, n_tissues)``."""
    return (pd * (1 - np.exp(-trec_ms / t1)))[None] * np.exp(-np.asarray(tsl_ms, float)[:, None] / t1rho[None])


def molli_inversion_times(rr_ms: float, first_ti_ms: float = 110.0, second_offset_ms: float = 80.0,
                          scheme: tuple[int, int, int] = (5, 3, 3)) -> np.ndarray:
    """Inversion times (sorted, ms) of a MOLLI ``a(b)c`` scheme, e.g. 5(3)3: 5 images after the first
    inversion, 3 recovery beats, 3 images after a second inversion shifted by ``second_offset_ms``."""
    n1, _, n2 = scheme
    ti = [first_ti_ms + k * rr_ms for k in range(n1)] + [first_ti_ms + second_offset_ms + k * rr_ms for k in range(n2)]
    return np.sort(np.array(ti))
