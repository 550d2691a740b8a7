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


def bssfp_offres(pd: np.ndarray, t1: np.ndarray, t2: np.ndarray, flip_deg: float, tr_ms: float,
                 df_hz: np.ndarray | float) -> np.ndarray:
    """Complex balanced SSFP steady state at TE = TR/2 with off-resonance ``df_hz`` (alternating RF phase).

    Elliptical signal model (Xiang & Hoff, MRM 2014;71:927), ``theta = pi + 2 pi df TR``:
    ``I = M (1 - E2 e^{i theta}) / (1 - b cos theta) * sqrt(E2) * e^{i pi df TR}`` with
    ``M = PD (1 - E1) sin(a) / D``, ``b = E2 (1 - E1)(1 + cos a) / D``, ``D = 1 - E1 cos a - E2^2 (E1 - cos a)``.
    At ``df = 0`` it equals :func:`bssfp`; it is periodic in ``df`` with period ``1/TR`` and dips in bands at
    ``df = +-1/(2 TR)``.

    Parameters
    ----------
    pd, t1, t2: ``(n_tissues,)``.
    df_hz: off-resonance, any shape ``S`` (broadcast against a trailing tissue axis: pass ``S + (1,)``).

    Returns
    -------
    complex array, the broadcast of ``df_hz`` and ``(n_tissues,)``.
    """
    a = np.deg2rad(flip_deg)
    e1, e2 = np.exp(-tr_ms / t1), np.exp(-tr_ms / t2)
    d = 1 - e1 * np.cos(a) - e2**2 * (e1 - np.cos(a))
    m = pd * (1 - e1) * np.sin(a) / d
    b = e2 * (1 - e1) * (1 + np.cos(a)) / d
    beta = 2 * np.pi * np.asarray(df_hz, float) * tr_ms * 1e-3
    theta = np.pi + beta
    return m * (1 - e2 * np.exp(1j * theta)) / (1 - b * np.cos(theta)) * np.sqrt(e2) * np.exp(0.5j * beta)


def prep_stored_fraction(b1: np.ndarray | float) -> np.ndarray:
    """Fraction of the longitudinal magnetisation that a tip-down / tip-up preparation (T2 prep, spin lock) with
    relative flip ``b1`` (1 = nominal 90 deg) leaves along z, untouched by the decay: ``cos^2(pi b1 / 2)``."""
    return np.cos(0.5 * np.pi * np.asarray(b1, float)) ** 2


def prepared_decay(t_ms: np.ndarray, t2: np.ndarray, b1: np.ndarray | float) -> np.ndarray:
    """Relative prepared magnetisation ``sin^2(pi b1/2) exp(-t/T) + cos^2(pi b1/2)`` (``(n_images,) + shape``).

    With ``b1 = 1`` this is the ideal ``exp(-t/T)``; a B1 error leaves a non-decaying part, so a mono-exponential fit
    reads a longer apparent T2 / T1rho than the tissue's (the truth tables carry the tissue value).
    """
    c = prep_stored_fraction(b1)
    t = np.asarray(t_ms, float).reshape((-1,) + (1,) * np.ndim(t2 * c))
    return (1 - c) * np.exp(-t / t2) + c
