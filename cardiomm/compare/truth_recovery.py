"""Does the gauge recover the truth? The fully sampled reference's indicators against the phantom truth.

The audit compares every reconstruction with the fully sampled *reference*, so the reference's own error against
the truth (segmenter, ROI, fit) bounds what the audit can resolve. Issue 30 (item 3) sets the goals below, on a
cohort's reference (method ``reference``, labels ``own``) against the truth rows of the same tables (method
``truth``); the biomarkers on the headline (consensus) ROI.

Pure table code: :func:`differences` pairs rows, :func:`recovery_summary` gives bias, SD, 95% limits of agreement
and whether each goal is met (the Dice at the true ED and ES frames is
:func:`cardiomm.segmentation.metrics.phase_dice`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cardiomm.compare.agreement import headline
from cardiomm.conventions import INDICATORS, REFERENCE, TRUTH


@dataclass(frozen=True)
class Goal:
    """``|mean bias| <= bias``; when ``loa`` is set, both 95% limits of agreement inside ``+-loa`` too."""

    bias: float
    loa: float | None = None


#: Issue 30, item 3: the reference against the phantom truth, per indicator (its unit).
GOALS: dict[str, Goal] = {
    "LVEDV": Goal(3.0), "LVESV": Goal(3.0), "LVSV": Goal(3.0), "LVEF": Goal(1.0, 3.0), "LVM": Goal(3.0),
    "RVEDV": Goal(3.0), "RVESV": Goal(3.0), "RVSV": Goal(3.0), "WT": Goal(0.3),
    "T1": Goal(10.0), "T2": Goal(1.0), "T1rho": Goal(1.0),
}

def differences(table: pd.DataFrame, method: str = REFERENCE) -> pd.DataFrame:
    """Per subject and indicator: ``method`` minus truth.

    ``table``: rows of ``tables/phenotypes.csv`` and/or ``tables/biomarkers.csv`` (``subject, method, indicator,
    value``; the rows the audit's headline uses, :func:`cardiomm.compare.agreement.headline`: biomarkers on the
    consensus ROI, the method's own labels). Returns columns
    ``subject, indicator, value, truth, difference``; a subject without a finite value on either side is dropped
    for that indicator (its reason stays in the source table).
    """
    t = headline(table)
    a = t[t["method"] == method][["subject", "indicator", "value"]]
    b = t[t["method"] == TRUTH][["subject", "indicator", "value"]].rename(columns={"value": "truth"})
    m = a.merge(b, on=["subject", "indicator"], how="inner")
    m = m[np.isfinite(m["value"].astype(float)) & np.isfinite(m["truth"].astype(float))].copy()
    m["difference"] = m["value"].astype(float) - m["truth"].astype(float)
    return m.reset_index(drop=True)


def recovery_summary(diff: pd.DataFrame) -> pd.DataFrame:
    """One row per indicator of :data:`GOALS` present in ``diff``: n, mean bias, SD, 95% LoA, goal and ``met``."""
    rows = []
    for ind, goal in GOALS.items():
        d = diff.loc[diff["indicator"] == ind, "difference"].to_numpy(float)
        if not len(d):
            continue
        mean = float(d.mean())
        sd = float(d.std(ddof=1)) if len(d) > 1 else float("nan")
        lo, hi = mean - 1.96 * sd, mean + 1.96 * sd
        met = abs(mean) <= goal.bias
        if goal.loa is not None:
            met = met and bool(np.isfinite(sd)) and -goal.loa <= lo and hi <= goal.loa
        goal_text = f"|bias| <= {goal.bias:g}" + (f", LoA within +-{goal.loa:g}" if goal.loa is not None else "")
        rows.append({"indicator": ind, "unit": INDICATORS[ind], "n": len(d), "mean_bias": mean, "sd": sd,
                     "loa_lo": lo, "loa_hi": hi, "min": float(d.min()), "max": float(d.max()), "goal": goal_text,
                     "met": bool(met)})
    return pd.DataFrame(rows)
