"""The three-valued preservation verdict of one indicator x method x mask, and the n it would need.

With d = method - comparator over n pairs, LoA = bias -/+ 1.96 SD and the 95% CI of each limit
``LoA -/+ t(0.975, n-1) * SD * sqrt(1/n + 1.96^2 / (2 (n-1)))`` (Bland & Altman 1999, Stat Methods Med Res
8:135, section 3; :func:`loa_ci_half_width`):

- ``preserved``: the CIs of *both* limits lie inside [-tolerance, +tolerance] (the disagreement is shown to be
  within the tolerance at this n);
- ``not preserved``: a point limit lies outside the tolerance, or the whole CI of the bias lies outside it
  (the disagreement is already larger than the tolerance on the estimate itself);
- ``inconclusive``: neither; ``n_needed`` is the smallest n at which, with the same bias and SD, the CIs of
  both limits would fit inside the tolerance (``inf`` when a point limit sits exactly on the tolerance).

A cell whose statistics cannot be computed (too few pairs) or that has no tolerance is ``inconclusive`` with
``n_needed`` NaN.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

PRESERVED, NOT_PRESERVED, INCONCLUSIVE = "preserved", "not preserved", "inconclusive"
VERDICTS = (PRESERVED, NOT_PRESERVED, INCONCLUSIVE)
LOA_Z = 1.96
#: Largest n searched by :func:`n_needed` (beyond it the answer is reported as ``inf``).
N_SEARCH_MAX = 100_000


def loa_ci_factor(n: int | np.ndarray) -> np.ndarray:
    """``sqrt(1/n + z^2 / (2 (n-1)))``: SE of a limit of agreement in units of the SD of the differences.

    Var(bias + z s) = Var(mean d) + z^2 Var(s) = sd^2 / n + z^2 sd^2 / (2 (n-1)) (normal differences, large-sample
    variance of s). The older ``sqrt(3/n)`` is its limit for large n and is 12% too small at n = 3.
    """
    n = np.asarray(n, dtype=float)
    return np.sqrt(1.0 / n + LOA_Z**2 / (2.0 * (n - 1.0)))


def loa_ci_half_width(sd: float, n: int | np.ndarray) -> np.ndarray:
    """Half-width of the 95% CI of a limit of agreement: ``t(0.975, n-1) * sd * loa_ci_factor(n)``."""
    n = np.asarray(n, dtype=float)
    return stats.t.ppf(0.975, n - 1.0) * sd * loa_ci_factor(n)


def n_needed(bias: float, sd: float, tolerance: float) -> float:
    """Smallest n (>= 3) at which the 95% CIs of both LoAs fit inside +/- ``tolerance`` for this bias and SD.

    Returns ``inf`` if the point limits themselves do not lie strictly inside the tolerance, or if more than
    :data:`N_SEARCH_MAX` pairs would be needed; NaN for non-finite input.
    """
    if not all(np.isfinite(v) for v in (bias, sd, tolerance)):
        return math.nan
    margin = tolerance - (abs(bias) + LOA_Z * sd)
    if margin <= 0:
        return math.inf
    if sd == 0:
        return 3.0
    # the half-width falls monotonically with n: bisection on integers
    lo, hi = 3, N_SEARCH_MAX
    if loa_ci_half_width(sd, hi) > margin:
        return math.inf
    while lo < hi:
        mid = (lo + hi) // 2
        if loa_ci_half_width(sd, mid) <= margin:
            hi = mid
        else:
            lo = mid + 1
    return float(lo)


def verdict(st: dict[str, float], n: int, tolerance: float) -> tuple[str, float, str]:
    """Verdict of one cell from its Bland-Altman statistics.

    Parameters
    ----------
    st: dict with ``bias, sd, loa_low, loa_high, bias_ci_low, bias_ci_high, loa_low_ci_low, loa_high_ci_high``
        (NaN where not computable), as from :func:`cardiomm.compare.agreement.bland_altman`.
    n: number of valid pairs.
    tolerance: LoA half-width allowed (indicator's unit); NaN if none.

    Returns
    -------
    ``(verdict, n_needed, why)``: ``verdict`` in :data:`VERDICTS`; ``n_needed`` as :func:`n_needed` for
    ``inconclusive`` cells with statistics (NaN otherwise); ``why`` one short sentence.
    """
    if not np.isfinite(tolerance):
        return INCONCLUSIVE, math.nan, "no tolerance"
    keys = ("bias", "sd", "loa_low", "loa_high", "bias_ci_low", "bias_ci_high", "loa_low_ci_low", "loa_high_ci_high")
    if not all(np.isfinite(st.get(k, math.nan)) for k in keys):
        return INCONCLUSIVE, math.nan, f"statistics not computable (n={n})"
    tol = float(tolerance)
    if st["loa_low"] < -tol or st["loa_high"] > tol:
        return NOT_PRESERVED, math.nan, "a point limit of agreement lies outside the tolerance"
    if st["bias_ci_low"] > tol or st["bias_ci_high"] < -tol:
        return NOT_PRESERVED, math.nan, "the 95% CI of the bias lies outside the tolerance"
    if st["loa_low_ci_low"] >= -tol and st["loa_high_ci_high"] <= tol:
        return PRESERVED, math.nan, "the 95% CIs of both limits of agreement lie inside the tolerance"
    need = n_needed(st["bias"], st["sd"], tol)
    need_txt = f"n >= {int(need)}" if np.isfinite(need) else f"more than {N_SEARCH_MAX} pairs"
    return INCONCLUSIVE, need, f"the LoA CIs cross the tolerance at n={n}; {need_txt} needed at this bias and SD"
