"""Clinical-indicator preservation audit: which indicators survive which acceleration, per method.

Each indicator x method x mask gets a three-valued verdict (:mod:`cardiomm.compare.verdict`): *preserved*
when the 95% CIs of both Bland-Altman limits of agreement against the comparator lie inside +/- the
tolerance, *not preserved* when a point limit (or the whole CI of the bias) lies outside it, and
*inconclusive* otherwise, with the number of pairs that would be needed to decide. Tolerances are LoA
half-widths (:mod:`cardiomm.compare.tolerances`, which states for each what its source reports).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cardiomm.compare.agreement import mask_sort_key
from cardiomm.compare.power import power_markdown
from cardiomm.compare.tolerances import APPLIED_AS, TOLERANCES, default_tolerances
from cardiomm.compare.verdict import INCONCLUSIVE, NOT_PRESERVED, PRESERVED, verdict
from cardiomm.conventions import FULLY_SAMPLED, INDICATORS, REFERENCE, TRUTH, unit
from cardiomm.methods import METHODS, REGISTRY, label

__all__ = ["METHOD_LABELS", "audit_markdown", "default_tolerances", "method_label"]

#: display names: the two comparators, then every method's label from the registry (:mod:`cardiomm.methods`)
METHOD_LABELS: dict[str, str] = {TRUTH: "Truth", REFERENCE: "Reference", **{n: m.label for n, m in REGISTRY.items()}}
_COMPARATOR_LABELS = {TRUTH: "Truth", REFERENCE: "Reference"}
_MARK = {PRESERVED: "✓", NOT_PRESERVED: "✗", INCONCLUSIVE: "?"}


def method_label(method: str) -> str:
    """Display name of a method (``"cardiomm"``, our variant -> ``"CardioMM-style (ours)"``)."""
    return _COMPARATOR_LABELS.get(method) or label(method)  # the registry's, read now (a registered method too)


# --------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------
def _decimals(tolerance: float) -> int:
    """Decimals so that a tenth of the tolerance is visible, at least one (12 mL -> 1, 0.7 L/min -> 2)."""
    if not np.isfinite(tolerance) or tolerance <= 0:
        return 2
    return max(1, 1 - math.floor(math.log10(tolerance)))


def _fmt(x: float, dec: int) -> str:
    if not np.isfinite(x):
        return "n/a"
    s = f"{x:.{dec}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s  # no "-0.0"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _need_txt(need: float) -> str:
    if not np.isfinite(need):
        return "n > 100000" if need == math.inf else "n unknown"
    return f"n ≥ {int(need)}"


def _cell(row: pd.Series) -> str:
    """``✓ -0.4 [-2.1, 1.3]`` / ``✗ ...`` / ``? ... (n ≥ 12)`` / ``? n/a`` for one agreement row."""
    if not np.isfinite(row["bias"]):
        return "? n/a"
    dec = _decimals(row["tolerance"])
    loa = f"[{_fmt(row['loa_low'], dec)}, {_fmt(row['loa_high'], dec)}]"
    text = f"{_MARK[row['verdict']]} {_fmt(row['bias'], dec)} {loa}"
    if row["verdict"] == INCONCLUSIVE:
        text += f" ({_need_txt(row['n_needed'])})"
    return text


def _ba_text(r: pd.Series) -> str:
    dec, u = _decimals(r["tolerance"]), r["unit"]
    return (
        f"{r['indicator']} (bias {_fmt(r['bias'], dec)} {u}, LoA [{_fmt(r['loa_low'], dec)}, "
        f"{_fmt(r['loa_high'], dec)}] {u}, LoA CIs [{_fmt(r['loa_low_ci_low'], dec)}, "
        f"{_fmt(r['loa_high_ci_high'], dec)}] {u}, tolerance ±{_fmt(r['tolerance'], dec)} {u}, n={int(r['n'])}"
    )


def _sentence(method: str, mask: str, sub: pd.DataFrame) -> str:
    """One line: "CardioMM at ktRadial24 preserves 2/14 indicators; not preserved: ...; inconclusive: ..."."""
    n_total = len(sub)
    ok = sub[sub["verdict"] == PRESERVED]
    failed = sub[sub["verdict"] == NOT_PRESERVED]
    unsure = sub[(sub["verdict"] == INCONCLUSIVE) & np.isfinite(sub["bias"])]
    na = sub[~np.isfinite(sub["bias"])]
    where = "" if mask == FULLY_SAMPLED else f" at {mask}"
    text = f"**{method_label(method)}{where}** preserves {len(ok)}/{n_total} indicators"
    if len(failed):
        text += "; not preserved: " + ", ".join(_ba_text(r) + ")" for _, r in failed.iterrows())
    if len(unsure):
        text += "; inconclusive: " + ", ".join(
            _ba_text(r) + f"; {_need_txt(r['n_needed'])} needed)" for _, r in unsure.iterrows()
        )
    if len(na):
        reasons = (f"{r['indicator']} ({_md_escape(r['reason'])})" for _, r in na.iterrows())
        text += "; not computable (inconclusive): " + ", ".join(reasons)
    return text + "."


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------
_REQUIRED = ("indicator", "unit", "method", "mask", "comparator", "n", "bias", "sd", "loa_low", "loa_high",
             "bias_ci_low", "bias_ci_high", "loa_low_ci_low", "loa_high_ci_high", "tolerance", "reason")  # fmt: skip


def _reason_table(rows: pd.DataFrame, last: str) -> list[str]:
    out = [f"| indicator | method | mask | n | {last} |", "|---|---|---|---|---|"]
    for _, r in rows.iterrows():
        cells = (r["indicator"], method_label(r["method"]), r["mask"], int(r["n"]), _md_escape(r["reason"]))
        out.append("| " + " | ".join(map(str, cells)) + " |")
    return out


def with_verdicts(agr: pd.DataFrame, tolerances: dict[str, float]) -> pd.DataFrame:
    """``agr`` with ``tolerance``, ``verdict``, ``n_needed`` and ``preserved`` recomputed from ``tolerances``."""
    agr = agr.copy()
    agr["tolerance"] = agr["indicator"].map(lambda i: float(tolerances.get(i, math.nan)))
    res = [verdict(r._asdict(), int(r.n), r.tolerance) for r in agr.itertuples(index=False)]
    agr["verdict"] = [v for v, _, _ in res]
    agr["n_needed"] = [k for _, k, _ in res]
    agr["preserved"] = agr["verdict"] == PRESERVED
    return agr


def _count(sub: pd.DataFrame) -> str:
    c = sub["verdict"].value_counts()
    return f"{c.get(PRESERVED, 0)} ✓ / {c.get(NOT_PRESERVED, 0)} ✗ / {c.get(INCONCLUSIVE, 0)} ?"


def _method_mask_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The ``(method, mask)`` pairs present in ``df``, in report order (comparators, then the registry's methods;
    masks by pattern and acceleration)."""
    order = (TRUTH, REFERENCE, *METHODS)
    methods = sorted(df["method"].unique(), key=lambda m: order.index(m) if m in order else 99)
    return [(m, k) for m in methods for k in sorted(df.loc[df["method"] == m, "mask"].unique(), key=mask_sort_key)]


def _comparator_section(agr: pd.DataFrame, comparator: str, tolerances: dict[str, float]) -> list[str]:
    lines: list[str] = []
    # The report's tolerances are authoritative: recompute the verdict so the text and matrix agree.
    agr = with_verdicts(agr, tolerances)
    cols = _method_mask_pairs(agr)
    methods = list(dict.fromkeys(m for m, _ in cols))
    indicators = [i for i in INDICATORS if i in set(agr["indicator"])]
    n_subj = int(agr["n"].max()) if len(agr) else 0
    lines += [
        f"## Against the {comparator}",
        "",
        f"Up to {n_subj} paired subjects per cell. Cells: ✓ preserved / ✗ not preserved / ? inconclusive "
        "(with the n needed at the observed bias and SD), followed by bias [lower LoA, upper LoA] in the "
        "indicator's unit (method − comparator).",
        "",
        "### At a glance: preserved / not preserved / inconclusive",
        "",
    ]
    masks = sorted({k for _, k in cols}, key=mask_sort_key)
    lines.append("| method | " + " | ".join(masks) + " |")
    lines.append("|---|" + "---|" * len(masks))
    for m in methods:
        cells = []
        for k in masks:
            sub = agr[(agr["method"] == m) & (agr["mask"] == k)]
            cells.append(_count(sub) if len(sub) else "")
        lines.append(f"| {method_label(m)} | " + " | ".join(cells) + " |")
    lines += ["", "### Summary matrix", ""]
    header = ["indicator (unit)", "tolerance"] + [f"{method_label(m)} {k}" for m, k in cols]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|---|" + "---|" * len(cols))
    for ind in indicators:
        tol = tolerances.get(ind, math.nan)
        row = [f"{ind} ({unit(ind)})", f"±{_fmt(tol, _decimals(tol))}" if np.isfinite(tol) else "none"]
        for m, k in cols:
            hit = agr[(agr["indicator"] == ind) & (agr["method"] == m) & (agr["mask"] == k)]
            row.append(_cell(hit.iloc[0]) if len(hit) else "")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "### Per method", ""]
    for m, k in cols:
        lines.append("- " + _sentence(m, k, agr[(agr["method"] == m) & (agr["mask"] == k)]))
    na = agr[~np.isfinite(agr["bias"].astype(float))]
    noted = agr[np.isfinite(agr["bias"].astype(float)) & (agr["reason"].fillna("") != "")]
    lines += ["", "### Non-computable cells", ""]
    if len(na):
        lines += _reason_table(na, "reason")
    else:
        lines.append("None: every cell had enough valid pairs.")
    if len(noted):
        lines += ["", "Computed cells with exclusions or undefined statistics:", ""]
        lines += _reason_table(noted, "note")
    lines.append("")
    return lines


def audit_markdown(agreement: pd.DataFrame, tolerances: dict[str, float], sources: dict[str, str], cohort: str,
                   biomarkers: pd.DataFrame | None = None) -> str:
    """Markdown report answering "which indicators survive which acceleration, per method".

    Parameters
    ----------
    agreement : output of :func:`cardiomm.compare.agreement.agreement_table` (one or several
        comparators concatenated; one section per comparator, reference first).
    tolerances : indicator -> tolerance (LoA half-width, indicator's unit). These decide the verdicts
        here: they are recomputed from the statistics and these tolerances (:func:`with_verdicts`) so the
        report and its stated tolerances can never disagree.
    sources : indicator -> citation string for the tolerance (printed where a value differs from the
        defaults of :mod:`cardiomm.compare.tolerances`).
    cohort : cohort name shown in the title.
    biomarkers : the biomarker table (optional; the noise-floor section it fed is gone with the one-sided floor
        policy, issue 30: the measurement procedure and valid fractions are the audit presentation's to print).

    Returns
    -------
    The Markdown text: title and criterion, then per comparator an at-a-glance count table, the
    summary matrix (rows indicators with unit and tolerance, columns method x mask, cells
    verdict mark, bias [LoA], n needed when inconclusive), one sentence per method x mask, the
    non-computable cells with reasons; and finally the tolerance table (value, what it is, source).
    """
    if not isinstance(agreement, pd.DataFrame):
        raise TypeError(f"agreement: expected a pandas DataFrame, got {type(agreement).__name__}")
    missing = [c for c in _REQUIRED if c not in agreement.columns]
    if missing:
        raise ValueError(f"agreement: missing columns {missing}; pass the output of agreement_table()")
    lines = [
        f"# Clinical-indicator preservation audit: {cohort}",
        "",
        "Question: which clinical indicators survive which acceleration, per reconstruction method?",
        "",
        "Verdict per indicator × method × mask, from the Bland-Altman limits of agreement (LoA = bias ± 1.96 SD "
        "of the paired differences) and their 95% CIs (LoA ± t·SD·√(1/n + 1.96²/(2(n−1))), Bland & Altman 1999):",
        "",
        "- **preserved** (✓): the CIs of both limits of agreement lie inside ± the tolerance;",
        "- **not preserved** (✗): a point limit of agreement lies outside the tolerance, or the whole CI of the "
        "bias does;",
        "- **inconclusive** (?): neither; shown with the number of pairs that would make the LoA CIs fit inside "
        "the tolerance if bias and SD stayed as observed. Cells without enough valid pairs are inconclusive.",
        "",
        f"Tolerances are applied as {APPLIED_AS}s; the table at the end says what each value is and where it "
        "comes from.",
        "",
    ]
    if agreement.empty:
        lines += ["No agreement rows: nothing to audit.", ""]
    comps = sorted(agreement["comparator"].unique(), key=lambda c: (c != REFERENCE, c))
    for comp in comps:
        lines += _comparator_section(agreement[agreement["comparator"] == comp], comp, tolerances)
    if not agreement.empty:
        lines += power_markdown(agreement, tolerances)
    lines += [
        "## Tolerances",
        "",
        f"Every value is applied as a {APPLIED_AS}.",
        "",
        "| indicator | unit | tolerance | what the value is | source |",
        "|---|---|---|---|---|",
    ]
    defaults = default_tolerances()[0]
    for ind in INDICATORS:
        tol = tolerances.get(ind, math.nan)
        tol_s = f"±{_fmt(tol, _decimals(tol))}" if np.isfinite(tol) else "none"
        t = TOLERANCES[ind]
        if np.isfinite(tol) and tol == defaults[ind]:
            kind, src = t.kind, t.source
        else:
            kind, src = "set in the config", sources.get(ind, "source not given")
        lines.append(f"| {ind} | {unit(ind)} | {tol_s} | {_md_escape(kind)} | {_md_escape(src)} |")
    lines.append("")
    return "\n".join(lines)
