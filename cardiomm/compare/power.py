"""Audit power: how many subjects each indicator needs for its verdict to be decided (preserved or not preserved,
:mod:`cardiomm.compare.verdict`), at the observed bias and SD, and with what probability a cohort of n decides.

Pure functions of the agreement rows (bias, SD of the differences, n) and the tolerances; the CI formulas, the
rule and the search for n are those of :mod:`cardiomm.compare.verdict` (reused, not re-derived).

Two views of the n needed:

- :func:`cardiomm.compare.verdict.n_needed`: the n at which a cell *with exactly the observed bias and SD* would
  be decided (what the audit prints beside an inconclusive cell);
- :func:`decision_probability` / :func:`n_for_power`: the probability that a cohort of n subjects decides a cell
  whose *true* differences are normal with that bias and SD (the sample mean ~ N(bias, SD^2/n) and
  (n-1) s^2 / SD^2 ~ chi^2(n-1), independent, drawn by seeded Monte Carlo and judged by
  :func:`cardiomm.compare.verdict.classify`), and the smallest n with a given probability. This is the one to
  size a cohort with: the observed n_needed is decided only half the time when the truth sits at its boundary.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cardiomm.compare.verdict import (
    CODE_NOT_PRESERVED,
    CODE_PRESERVED,
    LOA_Z,
    MIN_N,
    classify,
    loa_ci_half_width,
    n_needed,
)
from cardiomm.conventions import INDICATORS

#: Monte Carlo draws per (cell, n) in :func:`decision_probability` (standard error of a probability <= 0.35 points)
DRAWS = 20_000

POWER_COLUMNS = ("indicator", "comparator", "tolerance", "n", "cells", "sd_median", "n_needed_best",
                 "n_needed_median", "decidable_at_n", "sd_resolvable_at_n")


def sd_resolvable(n: int, tolerance: float) -> float:
    """Largest SD of the differences (zero bias) whose LoA CIs fit inside +/- ``tolerance`` with ``n`` pairs:
    ``tolerance / (1.96 + t(0.975, n-1) sqrt(1/n + 1.96^2/(2(n-1))))``; NaN for n < 3 or no tolerance."""
    if n < 3 or not np.isfinite(tolerance):
        return math.nan
    return float(tolerance / (LOA_Z + loa_ci_half_width(1.0, n)))


def decision_probability(bias: float, sd: float, n: int | np.ndarray, tolerance: float, draws: int = DRAWS,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(P(preserved), P(not preserved))`` at ``n`` pairs (scalar or array) of a cell whose paired differences
    are normal with mean ``bias`` and SD ``sd`` (indicator's unit), under the verdict rule.

    Seeded (``numpy.random.default_rng(seed)``, no global state); each n draws ``draws`` cohorts' sample mean and
    SD from their exact normal-theory distributions and judges them with
    :func:`cardiomm.compare.verdict.classify`. ``sd = 0`` is judged exactly (every cohort sees the same cell).
    """
    ns = np.atleast_1d(np.asarray(n, dtype=int))
    rng = np.random.default_rng(seed)
    p_ok, p_bad = np.empty(ns.shape), np.empty(ns.shape)
    for i, k in enumerate(ns):
        if k < MIN_N or not np.isfinite(tolerance):
            p_ok[i] = p_bad[i] = 0.0
            continue
        mean = bias + sd / np.sqrt(k) * rng.standard_normal(draws)
        s = sd * np.sqrt(rng.chisquare(k - 1, draws) / (k - 1))
        code = classify(mean, s, k, tolerance)
        p_ok[i], p_bad[i] = np.mean(code == CODE_PRESERVED), np.mean(code == CODE_NOT_PRESERVED)
    shape = np.shape(n)
    return p_ok.reshape(shape), p_bad.reshape(shape)


def n_for_power(bias: float, sd: float, tolerance: float, power: float = 0.8, n_max: int = 400,
                seed: int = 0) -> float:
    """Smallest n in ``[3, n_max]`` at which a cell with true ``bias`` and ``sd`` is decided (either way) with
    probability at least ``power`` (:func:`decision_probability`); ``inf`` if none up to ``n_max`` (a true limit
    too close to the tolerance), NaN for non-finite input. The probability rises with n up to Monte Carlo noise;
    the scan takes the first n that reaches ``power``."""
    if not all(np.isfinite(v) for v in (bias, sd, tolerance)):
        return math.nan
    ns = np.arange(MIN_N, n_max + 1)
    p_ok, p_bad = decision_probability(bias, sd, ns, tolerance, seed=seed)
    hit = np.nonzero(p_ok + p_bad >= power)[0]
    return float(ns[hit[0]]) if len(hit) else math.inf


def power_table(agreement: pd.DataFrame, tolerances: dict[str, float]) -> pd.DataFrame:
    """One row per indicator x comparator over all method x mask cells with statistics.

    Columns (:data:`POWER_COLUMNS`): ``n`` the most pairs of any cell; ``cells`` cells with a finite SD;
    ``sd_median`` their median SD; ``n_needed_best`` / ``n_needed_median`` the smallest and the median over the
    cells of :func:`cardiomm.compare.verdict.n_needed` at the cell's own bias and SD (``inf``: not reachable at
    any n, a point limit is outside the tolerance); ``decidable_at_n`` cells whose n needed is at most their
    n; ``sd_resolvable_at_n`` :func:`sd_resolvable` at ``n``.
    """
    from cardiomm.compare.agreement import headline  # the headline cells only (consensus ROI, own labels)

    rows = []
    for (ind, comp), sub in headline(agreement).groupby(["indicator", "comparator"], sort=False):
        tol = float(tolerances.get(ind, math.nan))
        sub = sub[np.isfinite(sub["sd"].astype(float)) & np.isfinite(sub["bias"].astype(float))]
        need = np.array([n_needed(float(b), float(s), tol) for b, s in zip(sub["bias"], sub["sd"], strict=True)])
        n = int(sub["n"].max()) if len(sub) else 0
        rows.append({
            "indicator": ind, "comparator": comp, "tolerance": tol, "n": n, "cells": len(sub),
            "sd_median": float(sub["sd"].median()) if len(sub) else math.nan,
            "n_needed_best": float(np.min(need)) if len(need) else math.nan,
            "n_needed_median": float(np.median(need)) if len(need) else math.nan,
            "decidable_at_n": int(np.sum(need <= sub["n"].to_numpy(float))) if len(need) else 0,
            "sd_resolvable_at_n": sd_resolvable(n, tol),
        })
    out = pd.DataFrame(rows, columns=list(POWER_COLUMNS))
    order = {k: i for i, k in enumerate(INDICATORS)}
    return out.sort_values(["comparator", "indicator"], key=lambda c: c.map(order) if c.name == "indicator" else c,
                           kind="stable").reset_index(drop=True)


def _n_txt(v: float) -> str:
    if not np.isfinite(v):
        return "never" if v == math.inf else "n/a"
    return str(int(v))


def power_markdown(agreement: pd.DataFrame, tolerances: dict[str, float]) -> list[str]:
    """The audit's power section (Markdown lines) from :func:`power_table`."""
    t = power_table(agreement, tolerances)
    lines = ["## Power: subjects needed per indicator", "",
             "For each indicator, the number of subjects at which a method × mask cell with its observed bias and "
             "SD would be decided, preserved or not preserved (best cell and median cell; 'never': a point limit "
             "sits on the tolerance), and the largest SD of the differences whose preservation the current n can "
             "show at zero bias. These use the observed SDs as if they were true; at small n they are themselves "
             "uncertain (benchmarks/results/power_cohort.md sizes the powered cohort with that in mind).", "",
             "| comparator | indicator | tolerance | n | cells | median SD | n needed (best) | n needed (median) "
             "| decidable at n | SD resolvable at n |", "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in t.iterrows():
        lines.append(f"| {r['comparator']} | {r['indicator']} | {r['tolerance']:.3g} | {r['n']} | {r['cells']} | "
                     f"{r['sd_median']:.3g} | {_n_txt(r['n_needed_best'])} | {_n_txt(r['n_needed_median'])} | "
                     f"{r['decidable_at_n']}/{r['cells']} | {r['sd_resolvable_at_n']:.3g} |")
    return lines + [""]
