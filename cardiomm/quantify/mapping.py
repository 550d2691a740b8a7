"""Pixel-wise relaxation maps (T1 from MOLLI, T2, T1rho) and their myocardial summaries.

All fits are vectorised over pixels: pixels are the last axis of every array and the only Python loops are
over chunks of pixels, polarity candidates, grid points and a fixed number of Levenberg-Marquardt iterations.
Each pixel's signal is divided by its largest magnitude before fitting (amplitudes are scaled back), so the
damping and tolerances do not depend on the image intensity scale.

Models
------
- MOLLI (``fit_molli``): ``S(TI) = A - B exp(-TI / T1*)`` with the Look-Locker correction
  ``T1 = T1* (B / A - 1)``. Magnitude data lose the sign of the early samples, so for every pixel the first
  ``k`` samples (TI ascending) are negated for each ``k = 0..n`` and the polarity with the lowest residual
  is kept. The search is a variable projection: for a log-spaced grid of ``T1*`` the model is linear in
  ``(A, B)``, so the residual of every ``(k, T1*)`` pair follows in closed form from cumulative sums; the two
  best polarities are then refined by Levenberg-Marquardt on ``(A, B, 1/T1*)`` and the lower residual wins.
- Mono-exponential (``fit_monoexp``, T2 and T1rho): ``S(t) = M0 exp(-t / T)``; weighted log-linear fit
  (weights ``S^2``, which undo the noise amplification of the log) then Levenberg-Marquardt on
  ``(M0, 1/T)``.

Validity
--------
A pixel is invalid when the fit failed (non-finite parameters, non-positive amplitude or rate, ``B <= A``
for MOLLI) or the value is physically implausible (``PLAUSIBLE_RANGE_MS``), and, when :func:`map_series` is
given the background noise (:mod:`cardiomm.quantify.noise`), when its brightest weighted image is not
``MIN_PEAK_Z`` background SDs above the background mean (a noise-only pixel fits some T1 too, e.g. 184 ms,
with a small residual: goodness of fit alone cannot reject it). Invalid pixels are NaN in the maps, counted in
the summaries, and never averaged.

Noise floor: with the background noise, :func:`map_series` fits ``sqrt(max(M^2 - P, 0))`` instead of the
magnitude ``M`` (``P`` the background's mean power), which removes the RSS noise floor that otherwise biases
T1 low and T2 / T1rho high, in the slices whose background air is white noise (noise-only RSS magnitude); the
other slices (zero-filled, SENSE and network reconstructions of undersampled data) are fitted as they are
(:mod:`cardiomm.quantify.noise`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from cardiomm.conventions import BIOMARKERS, LV_MYO
from cardiomm.io.nifti import Geometry
from cardiomm.quantify.aha import SEGMENTS
from cardiomm.quantify.noise import BackgroundNoise, background_noise, remove_noise_floor

#: Physically plausible myocardial / blood values per biomarker (ms); outside them a pixel is invalid.
PLAUSIBLE_RANGE_MS: dict[str, tuple[float, float]] = {"T1": (100.0, 3000.0), "T2": (5.0, 300.0), "T1rho": (5.0, 300.0)}
#: Fewest weighted images that determine each model (3 parameters for MOLLI, 2 for mono-exponentials).
MIN_IMAGES: dict[str, int] = {"T1": 3, "T2": 2, "T1rho": 2}
assert set(PLAUSIBLE_RANGE_MS) == set(BIOMARKERS) == set(MIN_IMAGES)

#: Log-spaced T1* grid of the MOLLI polarity / initialisation search (ms).
T1STAR_GRID_MS = np.geomspace(10.0, 8000.0, 72)
#: the myocardial summary statistic of a relaxation map (:func:`myocardial_summary` says why)
SUMMARY = "median"
_CHUNK = 8192
_LM_ITERS_MONO = 8
_LM_ITERS_MOLLI = 10

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
) -> dict:
    """Pixel-wise ``S = M0 exp(-t / T)`` fit (T2 with T2-prep times, T1rho with spin-lock times).

    Parameters
    ----------
    images: magnitude images, shape ``(nw, ...)`` (any trailing pixel shape).
    t_ms: preparation (echo / spin-lock) time of each image, shape ``(nw,)``, ms; any order.
    mask: bool, the trailing shape; only these pixels are fitted (default: all).
    valid_range_ms: plausible ``T`` range; values outside are invalid.

    Returns
    -------
    dict with ``T`` (ms), ``M0`` (image units), ``residual`` (RMS, image units), ``valid`` (bool), each of the
    trailing shape and NaN / False outside the mask, plus ``n_fitted`` and ``n_invalid`` (ints, in the mask).
    """
    y, t, mask, trailing = _prepare(images, t_ms, mask, "t_ms")
    if t.size < 2 or np.unique(t).size < 2:
        raise ValueError(f"t_ms: a mono-exponential fit needs at least 2 distinct times, got {t.tolist()}")
    m0 = np.empty(y.shape[1])
    rate = np.empty_like(m0)
    cost = np.empty_like(m0)
    yn, scale, nonzero = _normalise(y)
    for s in range(0, y.shape[1], _CHUNK):
        sl = slice(s, s + _CHUNK)
        m0[sl], rate[sl], cost[sl] = _monoexp_chunk(yn[:, sl], t)
    with np.errstate(divide="ignore", invalid="ignore"):
        T = np.where(rate > 0, 1.0 / rate, np.nan)
    lo, hi = valid_range_ms
    valid = nonzero & np.isfinite(T) & np.isfinite(m0) & (m0 > 0) & (T >= lo) & (T <= hi)
    return {
        "T": _unflatten(T, mask, trailing, np.nan),
        "M0": _unflatten(m0 * scale, mask, trailing, np.nan),
        "residual": _unflatten(np.sqrt(cost / t.size) * scale, mask, trailing, np.nan),
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
) -> dict:
    """Pixel-wise MOLLI T1 with polarity restoration and Look-Locker correction.

    Parameters
    ----------
    images: magnitude images, shape ``(nw, ...)`` (any trailing pixel shape), in any TI order.
    ti_ms: inversion time of each image, shape ``(nw,)``, ms (sorted ascending internally).
    mask: bool, the trailing shape; only these pixels are fitted (default: all).
    valid_range_ms: plausible T1 range; values outside are invalid.

    Returns
    -------
    dict with ``T1`` = ``T1star (B / A - 1)`` (ms), ``A``, ``B`` (image units), ``T1star`` (ms), ``residual``
    (RMS, image units), ``valid`` (bool), ``n_flipped`` (samples negated by the polarity restoration), each of the
    trailing shape (NaN / False / -1 outside the mask), plus ``n_fitted`` and ``n_invalid`` (ints, in the mask).
    Negating every sample fits the same curve with ``(-A, -B)``; such fits are reported with ``A > 0``.
    """
    y, ti, mask, trailing = _prepare(images, ti_ms, mask, "ti_ms")
    if ti.size < 3 or np.unique(ti).size < 3:
        raise ValueError(f"ti_ms: the 3-parameter MOLLI model needs at least 3 distinct TIs, got {ti.tolist()}")
    u, rinv = _grid_bases(ti)
    npx = y.shape[1]
    a, b, rate, cost = (np.empty(npx) for _ in range(4))
    k = np.empty(npx, dtype=np.int64)
    yn, scale, nonzero = _normalise(y)
    chunk = max(256, _CHUNK // 4)  # the grid search holds (G, 2, nw + 1) values per pixel
    for s in range(0, npx, chunk):
        sl = slice(s, s + chunk)
        a[sl], b[sl], rate[sl], cost[sl], k[sl] = _molli_chunk(yn[:, sl], ti, u, rinv)
    flip = a < 0  # all samples negated: same curve, report it with a positive A
    a, b = np.where(flip, -a, a), np.where(flip, -b, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1star = np.where(rate > 0, 1.0 / rate, np.nan)
        t1 = t1star * (b / a - 1.0)
    lo, hi = valid_range_ms
    finite = np.isfinite(t1) & np.isfinite(a) & np.isfinite(b) & np.isfinite(t1star)
    valid = nonzero & finite & (a > 0) & (b > a) & (t1 >= lo) & (t1 <= hi)
    return {
        "T1": _unflatten(t1, mask, trailing, np.nan),
        "A": _unflatten(a * scale, mask, trailing, np.nan),
        "B": _unflatten(b * scale, mask, trailing, np.nan),
        "T1star": _unflatten(t1star, mask, trailing, np.nan),
        "residual": _unflatten(np.sqrt(cost / ti.size) * scale, mask, trailing, np.nan),
        "valid": _unflatten(valid, mask, trailing, False),
        "n_flipped": _unflatten(k, mask, trailing, -1),
        "n_fitted": int(npx),
        "n_invalid": int(np.count_nonzero(~valid)),
    }


# --------------------------------------------------------------------------------------------
# A whole series and its myocardial summary
# --------------------------------------------------------------------------------------------
#: a pixel is fitted when its mean over the weightings exceeds this fraction of the 99th percentile of that mean
BODY_FRACTION, BODY_PERCENTILE = 0.05, 99


def body_mask(images: np.ndarray) -> np.ndarray:
    """The pixels worth fitting: bool ``(nz, ny, nx)`` of a weighted series ``(nt, nz, ny, nx)``, where its mean over
    the weightings exceeds :data:`BODY_FRACTION` of that mean's :data:`BODY_PERCENTILE`-th percentile (the air
    around the body is left out of the fit)."""
    mean = images.mean(axis=0)
    return mean > BODY_FRACTION * np.percentile(mean, BODY_PERCENTILE)


def series_noise(images: np.ndarray) -> list[BackgroundNoise | None]:
    """Background noise of every slice of a mapping series ``(nw, nz, ny, nx)`` (``None`` where no air)."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images: expected a mapping series of shape (nw, nz, ny, nx), got shape {images.shape}")
    return [background_noise(images[:, z]) for z in range(images.shape[1])]


def map_series(
    images: np.ndarray,
    times_ms: np.ndarray,
    biomarker: str,
    mask: np.ndarray | None = None,
    noise: list[BackgroundNoise | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Relaxation map of a mapping series, slice by slice with each slice's own timings.

    Parameters
    ----------
    images: magnitude images, shape ``(nw, nz, ny, nx)``.
    times_ms: per-slice timings, shape ``(nz, nw)`` (ms: TI for T1, T2-prep for T2, spin-lock for T1rho);
        a ``(nw,)`` vector is used for every slice.
    biomarker: ``"T1"``, ``"T2"`` or ``"T1rho"`` (``conventions.BIOMARKERS``).
    mask: bool ``(nz, ny, nx)``; only these pixels are fitted (default: all).
    noise: per slice, the background noise (:func:`series_noise`) or ``None``; where given, pixels below the SNR
        criterion are invalid, and the noise floor is removed before fitting where the background is noise-only
        RSS magnitude (``BackgroundNoise.floor_valid``; :func:`cardiomm.quantify.noise.floor_summary` says
        where). ``None`` (default): the magnitudes are fitted as they are, without an SNR criterion.

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
    rng = PLAUSIBLE_RANGE_MS[biomarker]
    for z in range(nz):
        m = None if mask is None else np.asarray(mask[z], dtype=bool)
        sl = np.asarray(images[:, z], dtype=np.float64)
        snr_ok = np.ones(sl.shape[1:], dtype=bool)
        bg = None if noise is None else noise[z]
        if bg is not None:
            snr_ok = sl.max(axis=0) >= bg.min_peak
            if bg.floor_valid:  # only where the air is noise-only RSS magnitude (noise.py)
                sl = remove_noise_floor(sl, bg.power)
        if biomarker == "T1":
            fit = fit_molli(sl, times[z], m, rng)
            v = fit["T1"]
        else:
            fit = fit_monoexp(sl, times[z], m, rng)
            v = fit["T"]
        valid[z] = fit["valid"] & snr_ok
        value[z] = np.where(valid[z], v, np.nan)
    return value, valid


def _stats(values: np.ndarray, ok: np.ndarray) -> tuple[float, float, float, int, int]:
    """Median, mean, SD over valid pixels; number of pixels; number invalid."""
    v = values[ok]
    median = float(np.median(v)) if v.size else float("nan")
    mean = float(v.mean()) if v.size else float("nan")
    sd = float(v.std(ddof=1)) if v.size > 1 else float("nan")
    return median, mean, sd, int(ok.size), int(ok.size - v.size)


def myocardial_roi(labels: np.ndarray) -> np.ndarray:
    """The analysed myocardium: the LV myocardium label eroded by one pixel per slice (4-neighbourhood).

    ``labels (nz, ny, nx)`` -> bool ``(nz, ny, nx)``. The one definition of the ROI, used by
    :func:`myocardial_summary` and by the phantom's truth (:mod:`cardiomm.phantom.generate`).
    """
    labels = np.asarray(labels)
    return np.stack([ndimage.binary_erosion(sl == LV_MYO) for sl in labels]) if labels.size else labels == LV_MYO


def myocardial_summary(
    value_map: np.ndarray,
    valid: np.ndarray,
    labels: np.ndarray,
    geom: Geometry,
    segments: np.ndarray | None = None,
) -> dict:
    """Myocardial biomarker of a relaxation map (the median, :data:`SUMMARY`): global, per slice, per AHA segment.

    The LV myocardium label is eroded by one pixel per slice (:func:`myocardial_roi`) so that partial-volume
    pixels at the blood and epicardial borders are left out. Invalid pixels are counted, never averaged.

    Why the median and not the mean: an automatic myocardium that reaches a pixel or two into the blood pool
    (blood T1 is 1.5-1.6 times myocardial T1), likely into the epicardial fat (T1 a quarter of it; the
    negative tails, not checked pixel by pixel), or into the
    infarct border that the erosion of the true wall leaves out, adds tails of very different values, and the
    mean (breakdown point 0) follows them. Measured with the shipped segmenter on the fully sampled reference of
    the default cohort (``benchmarks/results/reference_bias.md``): the mean's T1 bias ranges over -56 to +55 ms per
    subject (cohort mean -6.5 ms; T2 +1.5, T1rho +3.0 ms, both off the 1 ms goal), the median's over -26 to
    +6 ms (cohort mean -6.2 ms; T2 +0.3, T1rho +0.4 ms). The wall is about 4 pixels thick at 2.25 mm, so a
    deeper erosion (a "conservative" ROI, Messroghli et al. 2017 JCMR 19:75) would leave almost no pixels; the
    median is its robust-statistics counterpart. On a heterogeneous wall (focal infarct) the median
    under-weights the focal tail, a few ms with the true labels on the default cohort; the mean is reported too.

    Parameters
    ----------
    value_map: ``(nz, ny, nx)`` ms (NaN allowed where invalid).
    valid: ``(nz, ny, nx)`` bool from :func:`map_series`.
    labels: ``(1, nz, ny, nx)`` or ``(nz, ny, nx)`` integer labels of the mapping series.
    geom: voxel geometry (for the analysed area).
    segments: optional ``(nz, ny, nx)`` AHA map (0 outside, 1..16) from ``aha.aha_segments``.

    Returns
    -------
    dict: ``value`` (the biomarker: the median), ``median``, ``mean``, ``sd`` (ms, over valid eroded myocardial
    pixels), ``statistic`` (:data:`SUMMARY`), ``n_pixels`` (eroded myocardium), ``n_invalid``, ``area_mm2``,
    ``per_slice`` (list of ``{slice, value, mean, n_pixels, n_invalid}``), ``per_segment`` (``{1..16: {value,
    mean, n_pixels, n_invalid}}``, empty if ``segments`` is None) and ``reason`` (None, or why ``value`` is NaN).
    """
    value_map = np.asarray(value_map, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    labels = np.asarray(labels)
    if labels.ndim == 4 and labels.shape[0] == 1:
        labels = labels[0]
    if labels.ndim != 3:
        raise ValueError(f"labels: expected (1, nz, ny, nx) or (nz, ny, nx), got shape {labels.shape}")
    for name, arr in (("value_map", value_map), ("valid", valid)) + (
        (("segments", np.asarray(segments)),) if segments is not None else ()
    ):
        if arr.shape != labels.shape:
            raise ValueError(f"{name}: expected shape {labels.shape} (as labels), got {arr.shape}")
    myo = myocardial_roi(labels)
    ok = valid & np.isfinite(value_map)
    median, mean, sd, n_pix, n_inv = _stats(value_map[myo], ok[myo])
    per_slice = []
    for z in range(labels.shape[0]):
        md, m, _, n, ni = _stats(value_map[z][myo[z]], ok[z][myo[z]])
        per_slice.append({"slice": z, "value": md, "mean": m, "n_pixels": n, "n_invalid": ni})
    per_segment = {}
    if segments is not None:
        seg = np.asarray(segments)
        for s in SEGMENTS:
            sel = myo & (seg == s)
            md, m, _, n, ni = _stats(value_map[sel], ok[sel])
            per_segment[s] = {"value": md, "mean": m, "n_pixels": n, "n_invalid": ni}
    reason = None
    if n_pix == 0:
        had = bool((labels == LV_MYO).any())
        reason = "no LV myocardium pixels remain after one-pixel erosion" if had else "no LV myocardium label"
    elif n_inv == n_pix:
        reason = f"all {n_pix} eroded myocardium pixels have invalid fits"
    return {
        "value": median,
        "median": median,
        "mean": mean,
        "sd": sd,
        "statistic": SUMMARY,
        "n_pixels": n_pix,
        "n_invalid": n_inv,
        "area_mm2": n_pix * geom.dx * geom.dy,
        "per_slice": per_slice,
        "per_segment": per_segment,
        "reason": reason,
    }
