"""Pixel-wise relaxation maps (T1 from MOLLI, T2, T1rho): one fit, one noise model and one validity test for
every image.

All fits are vectorised over pixels: pixels are the last axis of every array and the only Python loops are
over chunks of pixels, polarity candidates, grid points and a fixed number of Levenberg-Marquardt iterations.
Each pixel's signal is divided by its largest magnitude before fitting (amplitudes are scaled back), so the
damping and tolerances do not depend on the image intensity scale.

Signal models ``f(t)``
----------------------
- MOLLI (``fit_molli``): ``f(TI) = A - B exp(-TI / T1*)`` with the Look-Locker correction
  ``T1 = T1* (B / A - 1)``. Magnitude data lose the sign of the early samples, so for every pixel the first
  ``k`` samples (TI ascending) are negated for each ``k = 0..n`` and the polarity with the lowest residual
  is kept. The search is a variable projection: for a log-spaced grid of ``T1*`` the model is linear in
  ``(A, B)``, so the residual of every ``(k, T1*)`` pair follows in closed form from cumulative sums; the two
  best polarities are then refined by Levenberg-Marquardt on ``(A, B, 1/T1*)`` and the lower residual wins.
- Mono-exponential (``fit_monoexp``, T2 and T1rho): ``f(t) = M0 exp(-t / T)``; weighted log-linear fit
  (weights ``S^2``, which undo the noise amplification of the log) then Levenberg-Marquardt on ``(M0, 1/T)``.

Noise floor (the measurement model)
-----------------------------------
Every image is an RSS-like magnitude ``M``. Given the acquisition's noise power ``P``
(:class:`cardiomm.quantify.noise.AcquisitionNoise`, one number per slice, measured in the fully sampled data),
the fitted model is ``M = sqrt(f(t)^2 + P)``: for the RSS of coil images ``E[M^2] = A^2 + P`` exactly, and
``E[M] = sqrt(A^2 + P)`` to within ``P / (4 L A)`` at high SNR and ``sqrt(P) / (8 L)`` in air (``L`` coils:
1-5% of the floor with 8-10 coils), so the floor is modelled, not subtracted, and the model stays defined where
the MOLLI signal crosses zero (``f^2`` needs no sign). The start is the fit of ``sqrt(max(M^2 - P, 0))``, then
Levenberg-Marquardt on the floor model. Why this and not ``sqrt(max(M^2 - P, 0))`` alone (the power-image
correction): that clips the samples near the MOLLI null to zero, a bias of its own (measured,
``benchmarks/results/reference_bias.md``). ``P`` is the same for the reference, every reconstruction and the
control: one procedure; a reconstruction that removes noise from its output then reads as what it is, an image
whose late weightings differ from the acquisition's.

Validity
--------
A pixel is invalid when the fit failed (non-finite parameters, non-positive amplitude or rate, ``B <= A``
for MOLLI), when the value is physically implausible (``PLAUSIBLE_RANGE_MS``) and, given the noise, when the
data do not support a relaxation: the relaxation model must explain the data better than the null model
"no relaxation" (a constant ``sqrt(c^2 + P)``, the best constant of the floor model) by
``(RSS_null - RSS_fit) / sigma^2 >= MIN_SIGNIFICANCE[biomarker]``: the likelihood-ratio statistic of Gaussian
errors with the acquisition's magnitude noise variance ``sigma^2``
(:attr:`~cardiomm.quantify.noise.AcquisitionNoise.variance`), tested at the chi-square quantile of
``1 - VALIDITY_ALPHA`` with as many degrees of freedom as the model has parameters beyond the constant (2 for
MOLLI, 1 for the mono-exponentials). A noise-only pixel fits some T1 too, e.g. 184 ms, with a small residual:
goodness of fit alone cannot reject it; the test asks whether there is anything to fit. Measured
(``benchmarks/results/fit_validity.md``): the statistic stays below the threshold on noise-only pixels (the
reference's air, and simulated Rician noise, whose fit without the test was 21-54% "valid"), while the true
myocardium of the fully sampled reference at SNR 25 lies far above it. Invalid pixels are NaN in the maps,
counted in the summaries, and never averaged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import chi2

from cardiomm.conventions import BIOMARKERS
from cardiomm.quantify.noise import AcquisitionNoise

#: Physically plausible myocardial / blood values per biomarker (ms); outside them a pixel is invalid.
PLAUSIBLE_RANGE_MS: dict[str, tuple[float, float]] = {"T1": (100.0, 3000.0), "T2": (5.0, 300.0), "T1rho": (5.0, 300.0)}
#: Fewest weighted images that determine each model (3 parameters for MOLLI, 2 for mono-exponentials).
MIN_IMAGES: dict[str, int] = {"T1": 3, "T2": 2, "T1rho": 2}
#: Parameters a relaxation model has beyond the null model's one constant (MOLLI: A, B, T1*; M0, T otherwise).
EXTRA_PARAMETERS: dict[str, int] = {"T1": 2, "T2": 1, "T1rho": 1}
#: False-positive rate per pixel of the validity test, were the statistic chi-square (module docstring).
VALIDITY_ALPHA = 1e-3
#: Smallest likelihood-ratio statistic ``(RSS_null - RSS_fit) / sigma^2`` of a valid fit: the chi-square quantile
#: ``1 - VALIDITY_ALPHA`` with ``EXTRA_PARAMETERS`` degrees of freedom (13.8 for MOLLI, 10.8 mono-exponential).
MIN_SIGNIFICANCE: dict[str, float] = {b: float(chi2.isf(VALIDITY_ALPHA, k)) for b, k in EXTRA_PARAMETERS.items()}
assert set(PLAUSIBLE_RANGE_MS) == set(BIOMARKERS) == set(MIN_IMAGES) == set(EXTRA_PARAMETERS)

#: Log-spaced T1* grid of the MOLLI polarity / initialisation search (ms).
T1STAR_GRID_MS = np.geomspace(10.0, 8000.0, 72)
_CHUNK = 8192
_LM_ITERS_MONO = 8
_LM_ITERS_MOLLI = 10
_LM_ITERS_FLOOR = 8

Model = Callable[[list[np.ndarray]], tuple[np.ndarray, list[np.ndarray]]]


# --------------------------------------------------------------------------------------------
# Batched small linear algebra and Levenberg-Marquardt
# --------------------------------------------------------------------------------------------
def _solve_sym(h: list[list[np.ndarray]], g: list[np.ndarray]) -> list[np.ndarray]:
    """Solve ``H x = g`` for many symmetric 2x2 or 3x3 systems at once (Cramer's rule, pixels last).

    Singular systems give a zero step (the iteration then rejects nothing and changes nothing).
    """
    n = len(g)
    if n == 2:
        det = h[0][0] * h[1][1] - h[0][1] ** 2
        ok = np.abs(det) > 1e-300
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        return [(h[1][1] * g[0] - h[0][1] * g[1]) * inv, (h[0][0] * g[1] - h[0][1] * g[0]) * inv]
    if n == 3:
        a, b, c = h[0][0], h[0][1], h[0][2]
        d, e, f = h[1][1], h[1][2], h[2][2]
        c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
        c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
        det = a * c00 + b * c01 + c * c02
        ok = np.abs(det) > 1e-300
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        return [
            (c00 * g[0] + c01 * g[1] + c02 * g[2]) * inv,
            (c01 * g[0] + c11 * g[1] + c12 * g[2]) * inv,
            (c02 * g[0] + c12 * g[1] + c22 * g[2]) * inv,
        ]
    raise NotImplementedError(f"only 2 or 3 parameters are supported, got {n}")


def _levenberg_marquardt(
    model: Model, params: list[np.ndarray], y: np.ndarray, n_iter: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Batched Levenberg-Marquardt (Marquardt's diagonal scaling), one damping factor per pixel.

    Parameters
    ----------
    model: ``params -> (f (m, P), [df/dp_j (m, P)])``.
    params: initial parameters, each ``(P,)``.
    y: data ``(m, P)``.
    n_iter: number of iterations (a step is kept only if it lowers that pixel's cost).

    Returns
    -------
    ``(params, cost (P,))`` with ``cost`` the residual sum of squares.
    """
    f, jac = model(params)
    r = y - f
    cost = np.einsum("mp,mp->p", r, r)
    lam = np.full(cost.shape, 1e-3)
    n = len(params)
    for _ in range(n_iter):
        h = [[None] * n for _ in range(n)]
        for i in range(n):
            for j in range(i, n):
                h[i][j] = h[j][i] = np.einsum("mp,mp->p", jac[i], jac[j])
        g = [np.einsum("mp,mp->p", jac[i], r) for i in range(n)]
        for i in range(n):
            h[i][i] = h[i][i] * (1.0 + lam)
        step = _solve_sym(h, g)
        trial = [p + s for p, s in zip(params, step)]
        with np.errstate(over="ignore", invalid="ignore"):
            f_t, jac_t = model(trial)
            r_t = y - f_t
            cost_t = np.einsum("mp,mp->p", r_t, r_t)
        better = np.isfinite(cost_t) & (cost_t < cost)
        params = [np.where(better, t, p) for t, p in zip(trial, params)]
        jac = [np.where(better, jt, j) for jt, j in zip(jac_t, jac)]
        r = np.where(better, r_t, r)
        cost = np.where(better, cost_t, cost)
        lam = np.clip(np.where(better, lam * 0.2, lam * 10.0), 1e-9, 1e9)
    return params, cost


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------
def _prepare(images: np.ndarray, times: np.ndarray, mask: np.ndarray | None, name: str) -> tuple:
    """Flatten ``images (nw, ...)`` to ``(nw, P)`` with TI/TE ascending; return the pixels to fit."""
    images = np.asarray(images)
    if images.ndim < 1 or not np.issubdtype(images.dtype, np.number) or np.iscomplexobj(images):
        raise ValueError(f"images: expected real magnitude images (nw, ...), got {images.dtype} {images.shape}")
    if times is None:
        raise ValueError(f"{name}: timings are missing")
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size != images.shape[0]:
        raise ValueError(f"{name}: expected {images.shape[0]} timings (one per image), got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{name}: timings contain missing (non-finite) values: {times.tolist()}")
    if np.any(times < 0):
        raise ValueError(f"{name}: timings must be >= 0 ms, got {times.tolist()}")
    trailing = images.shape[1:]
    if mask is None:
        mask = np.ones(trailing, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != trailing:
        raise ValueError(f"mask: expected shape {trailing} (the image shape without nw), got {mask.shape}")
    order = np.argsort(times, kind="stable")
    flat = images.reshape(images.shape[0], -1)[order].astype(np.float64)
    return flat[:, mask.ravel()], times[order], mask, trailing


def _normalise(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Divide each pixel ``(m, P)`` by its largest magnitude; return ``(y, scale, nonzero)``."""
    scale = np.max(np.abs(y), axis=0, initial=0.0)  # initial: a slice may have no pixel in the mask
    nonzero = np.isfinite(scale) & (scale > 0)
    safe = np.where(nonzero, scale, 1.0)
    return np.nan_to_num(y / safe), safe, nonzero


def _unflatten(values: np.ndarray, mask: np.ndarray, trailing: tuple, fill: float | bool) -> np.ndarray:
    out = np.full(trailing, fill, dtype=np.asarray(values).dtype)
    out[mask] = values
    return out


# --------------------------------------------------------------------------------------------
# The noise-floor model and the validity test
# --------------------------------------------------------------------------------------------
def _floor_model(model: Model, p: np.ndarray) -> Model:
    """``sqrt(f^2 + p)`` of a signal model ``f``, ``p (P,)`` the normalised floor per pixel (module docstring)."""

    def floored(params: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        f, jac = model(params)
        g = np.sqrt(f * f + p)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(g > 0, f / g, np.sign(f))
        return g, [w * j for j in jac]

    return floored


def _floor_inputs(y: np.ndarray, scale: np.ndarray, noise: AcquisitionNoise | None) -> tuple:
    """Normalised floor ``p (P,)``, noise variance ``v (P,)`` and the start data ``sqrt(max(y^2 - p, 0))``.

    ``y (m, P)`` normalised by ``scale (P,)``; without noise: ``p = 0``, ``v = None``, start data ``y``.
    """
    if noise is None:
        return np.zeros(y.shape[1]), None, y
    p = noise.power / scale**2
    return p, noise.variance / scale**2, np.sqrt(np.maximum(y * y - p, 0.0))


def _significance(y: np.ndarray, cost: np.ndarray, p: np.ndarray, v: np.ndarray | None) -> np.ndarray:
    """``(RSS_null - RSS_fit) / v`` per pixel: the null is the best constant of the floor model,
    ``max(mean(y), sqrt(p))``; ``y (m, P)``, ``cost`` = RSS_fit ``(P,)``. ``inf`` without a noise variance."""
    if v is None:
        return np.full(y.shape[1], np.inf)
    null = np.maximum(y.mean(axis=0), np.sqrt(p))
    rss0 = ((y - null) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, (rss0 - cost) / v, np.inf)


# --------------------------------------------------------------------------------------------
# Mono-exponential (T2, T1rho)
# --------------------------------------------------------------------------------------------
def _monoexp_model(t: np.ndarray) -> Model:
    tcol = t[:, None]

    def model(p: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        m0, rate = p
        e = np.exp(-tcol * rate)
        f = m0 * e
        return f, [e, -tcol * f]

    return model


def _monoexp_chunk(y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit normalised data ``(m, P)``; return ``(M0, rate 1/ms, cost)``."""
    # Weighted log-linear start: minimise sum w (log y - log M0 + t R)^2 with w = y^2 (y > 0 only).
    pos = y > 1e-6
    w = np.where(pos, y * y, 0.0)
    logy = np.log(np.where(pos, y, 1.0))
    tc = t[:, None]
    sw, swt, swtt = w.sum(0), (w * tc).sum(0), (w * tc * tc).sum(0)
    swl, swtl = (w * logy).sum(0), (w * tc * logy).sum(0)
    det = sw * swtt - swt**2
    ok = det > 1e-12
    det = np.where(ok, det, 1.0)
    slope = np.where(ok, (sw * swtl - swt * swl) / det, -1.0 / 50.0)
    icpt = np.where(ok, (swtt * swl - swt * swtl) / det, 0.0)
    params = [np.exp(np.clip(icpt, -50, 50)), np.clip(-slope, 1e-6, 10.0)]
    (m0, rate), cost = _levenberg_marquardt(_monoexp_model(t), params, y, _LM_ITERS_MONO)
    return m0, rate, cost


def fit_monoexp(
    images: np.ndarray,
    t_ms: np.ndarray,
    mask: np.ndarray | None = None,
    valid_range_ms: tuple[float, float] = PLAUSIBLE_RANGE_MS["T2"],
    noise: AcquisitionNoise | None = None,
    min_significance: float = MIN_SIGNIFICANCE["T2"],
) -> dict:
    """Pixel-wise ``M = sqrt((M0 exp(-t / T))^2 + P)`` fit (T2 with T2-prep times, T1rho with spin-lock times).

    Parameters
    ----------
    images: magnitude images, shape ``(nw, ...)`` (any trailing pixel shape).
    t_ms: preparation (echo / spin-lock) time of each image, shape ``(nw,)``, ms; any order.
    mask: bool, the trailing shape; only these pixels are fitted (default: all).
    valid_range_ms: plausible ``T`` range; values outside are invalid.
    noise: the acquisition's noise of these images (floor ``P`` and magnitude variance); ``None``: ``P = 0`` and
        no significance test.
    min_significance: smallest ``(RSS_null - RSS_fit) / sigma^2`` of a valid pixel (with ``noise``).

    Returns
    -------
    dict with ``T`` (ms), ``M0`` (image units), ``residual`` (RMS, image units), ``significance`` (the
    likelihood-ratio statistic; ``inf`` without noise), ``valid`` (bool), each of the trailing shape and
    NaN / False outside the mask, plus ``n_fitted`` and ``n_invalid`` (ints, in the mask).
    """
    y, t, mask, trailing = _prepare(images, t_ms, mask, "t_ms")
    if t.size < 2 or np.unique(t).size < 2:
        raise ValueError(f"t_ms: a mono-exponential fit needs at least 2 distinct times, got {t.tolist()}")
    m0, rate, cost, sig = (np.empty(y.shape[1]) for _ in range(4))
    yn, scale, nonzero = _normalise(y)
    p, v, start = _floor_inputs(yn, scale, noise)
    for s in range(0, y.shape[1], _CHUNK):
        sl = slice(s, s + _CHUNK)
        m0[sl], rate[sl], cost[sl] = _monoexp_chunk(start[:, sl], t)
        if noise is not None:
            (m0[sl], rate[sl]), cost[sl] = _levenberg_marquardt(
                _floor_model(_monoexp_model(t), p[sl]), [m0[sl], rate[sl]], yn[:, sl], _LM_ITERS_FLOOR)
        sig[sl] = _significance(yn[:, sl], cost[sl], p[sl], None if v is None else v[sl])
    with np.errstate(divide="ignore", invalid="ignore"):
        T = np.where(rate > 0, 1.0 / rate, np.nan)
    lo, hi = valid_range_ms
    valid = nonzero & np.isfinite(T) & np.isfinite(m0) & (m0 > 0) & (T >= lo) & (T <= hi)
    valid &= sig >= min_significance
    return {
        "T": _unflatten(T, mask, trailing, np.nan),
        "M0": _unflatten(m0 * scale, mask, trailing, np.nan),
        "residual": _unflatten(np.sqrt(cost / t.size) * scale, mask, trailing, np.nan),
        "significance": _unflatten(sig, mask, trailing, np.nan),
        "valid": _unflatten(valid, mask, trailing, False),
        "n_fitted": int(y.shape[1]),
        "n_invalid": int(np.count_nonzero(~valid)),
    }


# --------------------------------------------------------------------------------------------
# MOLLI T1 with polarity restoration
# --------------------------------------------------------------------------------------------
def _molli_model(ti: np.ndarray) -> Model:
    tcol = ti[:, None]

    def model(p: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        a, b, rate = p
        e = np.exp(-tcol * rate)
        be = b * e
        return a - be, [np.ones_like(e), -e, tcol * be]

    return model


def _grid_bases(ti: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal bases of span{1, -exp(-TI/T1*)} per grid T1*: ``U (G, 2, m)`` and ``Rinv (G, 2, 2)``."""
    u = np.empty((T1STAR_GRID_MS.size, 2, ti.size))
    rinv = np.empty((T1STAR_GRID_MS.size, 2, 2))
    for i, tau in enumerate(T1STAR_GRID_MS):
        basis = np.stack([np.ones_like(ti), -np.exp(-ti / tau)], axis=1)
        q, r = np.linalg.qr(basis)
        u[i], rinv[i] = q.T, np.linalg.pinv(r)
    return u, rinv


def _molli_chunk(y: np.ndarray, ti: np.ndarray, u: np.ndarray, rinv: np.ndarray) -> tuple:
    """Fit normalised magnitude data ``(m, P)``; return ``(A, B, rate, cost, k)``."""
    m, p = y.shape
    # proj[g, k] = || U_g D_k y ||^2 with D_k negating the first k samples, and
    # U_g D_k y = U_g y - 2 sum_{i<k} U_g[:, i] y_i: all polarities from one cumulative sum.
    csum = np.zeros((u.shape[0], 2, m + 1, p))
    np.cumsum(u[:, :, :, None] * y[None, None], axis=2, out=csum[:, :, 1:])
    coef = csum[:, :, -1:, :] - 2.0 * csum  # (G, 2, m + 1, P)
    proj = np.einsum("gjkp,gjkp->gkp", coef, coef)
    best_g = np.argmax(proj, axis=0)  # (m + 1, P): best grid point per polarity
    best_proj = np.take_along_axis(proj, best_g[None], 0)[0]
    # The residual is ||y||^2 - proj and ||y|| does not depend on the polarity: rank polarities by proj.
    top = np.argsort(-best_proj, axis=0)[:2]
    cols = np.arange(p)
    result = None
    for k in top:
        g = best_g[k, cols]
        c = coef[g, :, k, cols]  # (P, 2) coefficients in the orthonormal basis
        ab = np.einsum("pij,pj->pi", rinv[g], c)
        sign = np.where(np.arange(m)[:, None] < k[None], -1.0, 1.0)
        yk = sign * y
        params = [ab[:, 0], ab[:, 1], 1.0 / T1STAR_GRID_MS[g]]
        (a, b, rate), cost = _levenberg_marquardt(_molli_model(ti), params, yk, _LM_ITERS_MOLLI)
        if result is None:
            result = [a, b, rate, cost, k]
        else:
            better = cost < result[3]
            result = [np.where(better, new, old) for new, old in zip((a, b, rate, cost, k), result)]
    return tuple(result)


def fit_molli(
    images: np.ndarray,
    ti_ms: np.ndarray,
    mask: np.ndarray | None = None,
    valid_range_ms: tuple[float, float] = PLAUSIBLE_RANGE_MS["T1"],
    noise: AcquisitionNoise | None = None,
    min_significance: float = MIN_SIGNIFICANCE["T1"],
) -> dict:
    """Pixel-wise MOLLI T1: ``M = sqrt((A - B exp(-TI / T1*))^2 + P)``, polarity restoration, Look-Locker correction.

    Parameters
    ----------
    images: magnitude images, shape ``(nw, ...)`` (any trailing pixel shape), in any TI order.
    ti_ms: inversion time of each image, shape ``(nw,)``, ms (sorted ascending internally).
    mask: bool, the trailing shape; only these pixels are fitted (default: all).
    valid_range_ms: plausible T1 range; values outside are invalid.
    noise: the acquisition's noise of these images (floor ``P`` and magnitude variance); ``None``: ``P = 0`` and
        no significance test.
    min_significance: smallest ``(RSS_null - RSS_fit) / sigma^2`` of a valid pixel (with ``noise``).

    Returns
    -------
    dict with ``T1`` = ``T1star (B / A - 1)`` (ms), ``A``, ``B`` (image units), ``T1star`` (ms), ``residual``
    (RMS, image units), ``significance``, ``valid`` (bool), ``n_flipped`` (samples negated by the polarity
    restoration of the start), each of the trailing shape (NaN / False / -1 outside the mask), plus ``n_fitted``
    and ``n_invalid`` (ints, in the mask). Negating every sample fits the same curve with ``(-A, -B)``; such fits
    are reported with ``A > 0``.
    """
    y, ti, mask, trailing = _prepare(images, ti_ms, mask, "ti_ms")
    if ti.size < 3 or np.unique(ti).size < 3:
        raise ValueError(f"ti_ms: the 3-parameter MOLLI model needs at least 3 distinct TIs, got {ti.tolist()}")
    u, rinv = _grid_bases(ti)
    npx = y.shape[1]
    a, b, rate, cost, sig = (np.empty(npx) for _ in range(5))
    k = np.empty(npx, dtype=np.int64)
    yn, scale, nonzero = _normalise(y)
    p, v, start = _floor_inputs(yn, scale, noise)
    chunk = max(256, _CHUNK // 4)  # the grid search holds (G, 2, nw + 1) values per pixel
    for s in range(0, npx, chunk):
        sl = slice(s, s + chunk)
        a[sl], b[sl], rate[sl], cost[sl], k[sl] = _molli_chunk(start[:, sl], ti, u, rinv)
        if noise is not None:
            (a[sl], b[sl], rate[sl]), cost[sl] = _levenberg_marquardt(
                _floor_model(_molli_model(ti), p[sl]), [a[sl], b[sl], rate[sl]], yn[:, sl], _LM_ITERS_FLOOR)
        sig[sl] = _significance(yn[:, sl], cost[sl], p[sl], None if v is None else v[sl])
    flip = a < 0  # all samples negated: same curve, report it with a positive A
    a, b = np.where(flip, -a, a), np.where(flip, -b, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1star = np.where(rate > 0, 1.0 / rate, np.nan)
        t1 = t1star * (b / a - 1.0)
    lo, hi = valid_range_ms
    finite = np.isfinite(t1) & np.isfinite(a) & np.isfinite(b) & np.isfinite(t1star)
    valid = nonzero & finite & (a > 0) & (b > a) & (t1 >= lo) & (t1 <= hi) & (sig >= min_significance)
    return {
        "T1": _unflatten(t1, mask, trailing, np.nan),
        "A": _unflatten(a * scale, mask, trailing, np.nan),
        "B": _unflatten(b * scale, mask, trailing, np.nan),
        "T1star": _unflatten(t1star, mask, trailing, np.nan),
        "residual": _unflatten(np.sqrt(cost / ti.size) * scale, mask, trailing, np.nan),
        "significance": _unflatten(sig, mask, trailing, np.nan),
        "valid": _unflatten(valid, mask, trailing, False),
        "n_flipped": _unflatten(k, mask, trailing, -1),
        "n_fitted": int(npx),
        "n_invalid": int(np.count_nonzero(~valid)),
    }


# --------------------------------------------------------------------------------------------
# A whole series
# --------------------------------------------------------------------------------------------
#: a pixel is fitted when its mean over the weightings exceeds this fraction of the 99th percentile of that mean
BODY_FRACTION, BODY_PERCENTILE = 0.05, 99


def body_mask(images: np.ndarray) -> np.ndarray:
    """The pixels worth fitting: bool ``(nz, ny, nx)`` of a weighted series ``(nt, nz, ny, nx)``, where its mean over
    the weightings exceeds :data:`BODY_FRACTION` of that mean's :data:`BODY_PERCENTILE`-th percentile (the air
    around the body is left out of the fit)."""
    mean = images.mean(axis=0)
    return mean > BODY_FRACTION * np.percentile(mean, BODY_PERCENTILE)


def map_series(
    images: np.ndarray,
    times_ms: np.ndarray,
    biomarker: str,
    mask: np.ndarray | None = None,
    noise: list[AcquisitionNoise | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Relaxation map of a mapping series, slice by slice with each slice's own timings and noise.

    Parameters
    ----------
    images: magnitude images, shape ``(nw, nz, ny, nx)``.
    times_ms: per-slice timings, shape ``(nz, nw)`` (ms: TI for T1, T2-prep for T2, spin-lock for T1rho);
        a ``(nw,)`` vector is used for every slice.
    biomarker: ``"T1"``, ``"T2"`` or ``"T1rho"`` (``conventions.BIOMARKERS``).
    mask: bool ``(nz, ny, nx)``; only these pixels are fitted (default: all).
    noise: per slice, the acquisition's noise (:func:`cardiomm.quantify.noise.acquisition_noise`) or ``None``
        (that slice: no floor, no significance test); ``None`` for the whole series: the same for every slice.

    Returns
    -------
    ``(map (nz, ny, nx) ms, NaN where invalid or outside the mask; valid (nz, ny, nx) bool)``.
    """
    if biomarker not in BIOMARKERS:
        raise ValueError(f"biomarker: expected one of {list(BIOMARKERS)}, got {biomarker!r}")
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images: expected a mapping series of shape (nw, nz, ny, nx), got shape {images.shape}")
    nw, nz = images.shape[:2]
    if times_ms is None:
        raise ValueError(f"times_ms: the {biomarker} timings are missing")
    times = np.asarray(times_ms, dtype=np.float64)
    if times.ndim == 1:
        times = np.broadcast_to(times, (nz, times.size))
    if times.shape != (nz, nw):
        raise ValueError(
            f"times_ms: expected shape (nz, nw) = ({nz}, {nw}) (one timing per image and slice), got {times.shape}"
        )
    if nw < MIN_IMAGES[biomarker]:
        raise ValueError(f"images: {biomarker} needs at least {MIN_IMAGES[biomarker]} weighted images, got {nw}")
    if mask is not None and np.shape(mask) != images.shape[1:]:
        raise ValueError(f"mask: expected shape {images.shape[1:]}, got {np.shape(mask)}")
    if noise is not None and len(noise) != nz:
        raise ValueError(f"noise: expected one entry per slice ({nz}), got {len(noise)}")
    value = np.full(images.shape[1:], np.nan)
    valid = np.zeros(images.shape[1:], dtype=bool)
    fit = fit_molli if biomarker == "T1" else fit_monoexp
    for z in range(nz):
        m = None if mask is None else np.asarray(mask[z], dtype=bool)
        out = fit(np.asarray(images[:, z], dtype=np.float64), times[z], m, PLAUSIBLE_RANGE_MS[biomarker],
                  None if noise is None else noise[z], MIN_SIGNIFICANCE[biomarker])
        valid[z] = out["valid"]
        value[z] = np.where(valid[z], out["T1" if biomarker == "T1" else "T"], np.nan)
    return value, valid
