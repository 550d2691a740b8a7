"""Audit power: how many subjects each indicator needs for the CIs of its limits of agreement to fit inside
the tolerance (the ``preserved`` criterion of :mod:`cardiomm.compare.verdict`).

Pure functions of the agreement rows (bias, SD of the differences, n) and the tolerances; the LoA CI formula
and the search for n are those of :mod:`cardiomm.compare.verdict` (reused, not re-derived).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cardiomm.compare.verdict import LOA_Z, loa_ci_half_width, n_needed
from cardiomm.conventions import INDICATORS

POWER_COLUMNS = ("indicator", "comparator", "tolerance", "n", "cells", "sd_median", "n_needed_best",
                 "n_needed_median", "decidable_at_n", "sd_resolvable_at_n")


def sd_resolvable(n: int, tolerance: float) -> float:
    """Largest SD of the differences (zero bias) whose LoA CIs fit inside +/- ``tolerance`` with ``n`` pairs:
    ``tolerance / (1.96 + t(0.975, n-1) sqrt(1/n + 1.96^2/(2(n-1))))``; NaN for n < 3 or no tolerance."""
    if n < 3 or not np.isfinite(tolerance):
        return math.nan
    return float(tolerance / (LOA_Z + loa_ci_half_width(1.0, n)))


def power_table(agreement: pd.DataFrame, tolerances: dict[str, float]) -> pd.DataFrame:
    """One row per indicator x comparator over all method x mask cells with statistics.

    Columns (:data:`POWER_COLUMNS`): ``n`` the most pairs of any cell; ``cells`` cells with a finite SD;
    ``sd_median`` their median SD; ``n_needed_best`` / ``n_needed_median`` the smallest and the median over the
    cells of :func:`cardiomm.compare.verdict.n_needed` at the cell's own bias and SD (``inf``: not reachable at
    any n, a point limit is outside the tolerance); ``decidable_at_n`` cells whose n needed is at most their
    n; ``sd_resolvable_at_n`` :func:`sd_resolvable` at ``n``.
    """
    rows = []
    for (ind, comp), sub in agreement.groupby(["indicator", "comparator"], sort=False):
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
             "For each indicator, the number of subjects at which the 95% CIs of both limits of agreement would "
             "fit inside the tolerance, at each method × mask cell's observed bias and SD (best cell and median "
             "cell; 'never': a point limit already lies outside the tolerance), and the largest SD of the "
             "differences that the current n can resolve at zero bias.", "",
             "| comparator | indicator | tolerance | n | cells | median SD | n needed (best) | n needed (median) "
             "| decidable at n | SD resolvable at n |", "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in t.iterrows():
        lines.append(f"| {r['comparator']} | {r['indicator']} | {r['tolerance']:.3g} | {r['n']} | {r['cells']} | "
                     f"{r['sd_median']:.3g} | {_n_txt(r['n_needed_best'])} | {_n_txt(r['n_needed_median'])} | "
                     f"{r['decidable_at_n']}/{r['cells']} | {r['sd_resolvable_at_n']:.3g} |")
    return lines + [""]
