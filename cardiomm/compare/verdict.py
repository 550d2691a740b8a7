"""The three-valued preservation verdict of one indicator x method x mask, symmetric in evidence, and the n it needs.

With d = method - comparator over n pairs, bias = mean(d), SD = SD(d), LoA = bias -/+ 1.96 SD, and the 95% CIs

- of the bias: ``bias -/+ t(0.975, n-1) SD / sqrt(n)``;
- of each limit: ``LoA -/+ t(0.975, n-1) SD sqrt(1/n + 1.96^2 / (2 (n-1)))`` (Bland & Altman 1999, Stat Methods
  Med Res 8:135, section 3; :func:`loa_ci_half_width`),

a cell is

- ``preserved`` when the CIs of *both* limits lie inside [-tolerance, +tolerance]: the data show that the
  disagreement is within the tolerance;
- ``not preserved`` only when the data exclude preservation: the CI of a limit lies wholly outside the tolerance
  (its lower end above +tolerance, or its upper end below -tolerance), or the CI of the bias does;
- ``inconclusive`` otherwise. ``n_needed`` is the smallest n at which, with the same bias and SD, the cell would be
  decided either way (:func:`n_needed`; ``inf`` when a point limit sits exactly on the tolerance, which no n
  decides).

The rule treats the two verdicts alike: each needs a 95% interval on its side of the tolerance, so a point limit
outside the tolerance is not yet evidence of a loss, as a point limit inside it is not evidence of preservation.
A cell whose statistics cannot be computed (fewer than 3 pairs) or that has no tolerance is ``inconclusive`` with
``n_needed`` NaN. :func:`classify` is the rule itself, vectorised; :func:`verdict` applies it to one cell and
:mod:`cardiomm.compare.power` to simulated cells, so the audit and the power analysis cannot disagree.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

PRESERVED, NOT_PRESERVED, INCONCLUSIVE = "preserved", "not preserved", "inconclusive"
VERDICTS = (PRESERVED, NOT_PRESERVED, INCONCLUSIVE)
LOA_Z = 1.96
#: fewest pairs with a verdict (the SD needs n - 1 >= 2 degrees of freedom for a finite t quantile and CI)
MIN_N = 3
#: Largest n searched by :func:`n_needed` (beyond it the answer is reported as ``inf``).
N_SEARCH_MAX = 100_000
#: :func:`classify`'s codes
CODE_INCONCLUSIVE, CODE_PRESERVED, CODE_NOT_PRESERVED = 0, 1, 2
_BY_CODE = {CODE_INCONCLUSIVE: INCONCLUSIVE, CODE_PRESERVED: PRESERVED, CODE_NOT_PRESERVED: NOT_PRESERVED}


def loa_ci_factor(n: int | np.ndarray) -> np.ndarray:
    """``sqrt(1/n + z^2 / (2 (n-1)))``: SE of a limit of agreement in units of the SD of the differences.

    Var(bias + z s) = Var(mean d) + z^2 Var(s) = sd^2 / n + z^2 sd^2 / (2 (n-1)) (normal differences, large-sample
    variance of s). The older ``sqrt(3/n)`` is its limit for large n and is 12% too small at n = 3.
    """
    n = np.asarray(n, dtype=float)
    return np.sqrt(1.0 / n + LOA_Z**2 / (2.0 * (n - 1.0)))


def loa_ci_half_width(sd: float | np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """Half-width of the 95% CI of a limit of agreement: ``t(0.975, n-1) * sd * loa_ci_factor(n)``."""
    n = np.asarray(n, dtype=float)
    return stats.t.ppf(0.975, n - 1.0) * np.asarray(sd, dtype=float) * loa_ci_factor(n)


def bias_ci_half_width(sd: float | np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """Half-width of the 95% CI of the bias: ``t(0.975, n-1) * sd / sqrt(n)``."""
    n = np.asarray(n, dtype=float)
    return stats.t.ppf(0.975, n - 1.0) * np.asarray(sd, dtype=float) / np.sqrt(n)


def classify(bias: float | np.ndarray, sd: float | np.ndarray, n: int | np.ndarray,
             tolerance: float | np.ndarray) -> np.ndarray:
    """The verdict rule on arrays (broadcast together): codes :data:`CODE_PRESERVED`, :data:`CODE_NOT_PRESERVED`,
    :data:`CODE_INCONCLUSIVE`.

    Parameters
    ----------
    bias, sd: mean and SD (ddof 1) of the paired differences, in the indicator's unit.
    n: number of pairs (>= :data:`MIN_N`; fewer, or any non-finite input, gives inconclusive).
    tolerance: the LoA half-width allowed (> 0).
    """
    b, s, nn, tol = (np.asarray(v, dtype=float) for v in (bias, sd, n, tolerance))
    ok = np.isfinite(b) & np.isfinite(s) & np.isfinite(tol) & (nn >= MIN_N)
    nn = np.where(nn >= MIN_N, nn, MIN_N)  # keeps the t quantile finite where the cell is not judged anyway
    # the t quantile depends on n only: evaluated on n's own (often scalar) shape, not on the broadcast one
    hw, hb = s * loa_ci_half_width(1.0, nn), s * bias_ci_half_width(1.0, nn)
    lo, hi = b - LOA_Z * s, b + LOA_Z * s
    preserved = (lo - hw >= -tol) & (hi + hw <= tol)
    excluded = (hi - hw > tol) | (lo + hw < -tol) | (b - hb > tol) | (b + hb < -tol)
    code = np.where(preserved, CODE_PRESERVED, np.where(excluded, CODE_NOT_PRESERVED, CODE_INCONCLUSIVE))
    return np.where(ok, code, CODE_INCONCLUSIVE).astype(int)


def decided_at(bias: float, sd: float, tolerance: float, n: int | np.ndarray) -> np.ndarray:
    """Whether a cell with this bias and SD would be decided (either way) with ``n`` pairs."""
    return classify(bias, sd, n, tolerance) != CODE_INCONCLUSIVE


def n_needed(bias: float, sd: float, tolerance: float) -> float:
    """Smallest n (>= 3) at which a cell with this bias and SD would be decided, preserved or not preserved.

    Each criterion of :func:`classify` is monotone in n (every CI half-width falls with n), so the decided n form
    a half-line and bisection finds its start. Returns ``inf`` if no n up to :data:`N_SEARCH_MAX` decides it (a
    point limit on the tolerance, or too close to it); NaN for non-finite input.
    """
    if not all(np.isfinite(v) for v in (bias, sd, tolerance)):
        return math.nan
    if decided_at(bias, sd, tolerance, MIN_N):
        return float(MIN_N)
    lo, hi = MIN_N, N_SEARCH_MAX
    if not decided_at(bias, sd, tolerance, hi):
        return math.inf
    while lo < hi:
        mid = (lo + hi) // 2
        if decided_at(bias, sd, tolerance, mid):
            hi = mid
        else:
            lo = mid + 1
    return float(lo)


def verdict(st: dict[str, float], n: int, tolerance: float) -> tuple[str, float, str]:
    """Verdict of one cell from its Bland-Altman statistics.

    Parameters
    ----------
    st: dict with at least ``bias`` and ``sd`` (NaN where not computable), e.g. from
        :func:`cardiomm.compare.agreement.bland_altman`; the CIs are recomputed here from ``bias``, ``sd`` and ``n``
        with the same formulas, so a verdict never depends on a stale CI column.
    n: number of valid pairs.
    tolerance: LoA half-width allowed (indicator's unit); NaN if none.

    Returns
    -------
    ``(verdict, n_needed, why)``: ``verdict`` in :data:`VERDICTS`; ``n_needed`` as :func:`n_needed` for
    ``inconclusive`` cells with statistics (NaN otherwise); ``why`` one short sentence.
    """
    if not np.isfinite(tolerance):
        return INCONCLUSIVE, math.nan, "no tolerance"
    bias, sd = float(st.get("bias", math.nan)), float(st.get("sd", math.nan))
    if n < MIN_N or not (np.isfinite(bias) and np.isfinite(sd)):
        return INCONCLUSIVE, math.nan, f"statistics not computable (n={n})"
    tol = float(tolerance)
    code = int(classify(bias, sd, n, tol))
    hw = float(loa_ci_half_width(sd, n))
    lo, hi = bias - LOA_Z * sd, bias + LOA_Z * sd
    if code == CODE_PRESERVED:
        return PRESERVED, math.nan, "the 95% CIs of both limits of agreement lie inside the tolerance"
    if code == CODE_NOT_PRESERVED:
        if hi - hw > tol or lo + hw < -tol:
            return NOT_PRESERVED, math.nan, "the 95% CI of a limit of agreement lies wholly outside the tolerance"
        return NOT_PRESERVED, math.nan, "the 95% CI of the bias lies wholly outside the tolerance"
    need = n_needed(bias, sd, tol)
    need_txt = f"n >= {int(need)}" if np.isfinite(need) else f"more than {N_SEARCH_MAX} pairs"
    side = "inside" if (lo > -tol and hi < tol) else "outside"
    return INCONCLUSIVE, need, (f"the LoA CIs cross the tolerance at n={n} (point limits {side} it); {need_txt} "
                                "would decide at this bias and SD")


def verdict_name(code: int) -> str:
    """The verdict string of a :func:`classify` code."""
    return _BY_CODE[int(code)]
