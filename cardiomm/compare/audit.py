"""Clinical-indicator preservation audit: which indicators survive which acceleration, per method.

Each indicator x method x mask gets a three-valued verdict (:mod:`cardiomm.compare.verdict`), symmetric in
evidence: *preserved* when the 95% CIs of both Bland-Altman limits of agreement against the comparator lie inside
+/- the tolerance, *not preserved* only when a limit's CI (or the bias CI) lies wholly outside it, *inconclusive*
otherwise, with the number of pairs that would decide. Tolerances are LoA half-widths
(:mod:`cardiomm.compare.tolerances`, which states for each what its source reports).

The report opens with what a reader needs at a glance: whether its n is the powered one, one verdict map
(indicator x method x mask; a figure and the same matrix as text) and the null control's row, the gauge's proof
(a repeat scan measured like a reconstruction must come out preserved; if it does not, the gauge is broken, not
the methods). The headline cells are end to end (each method's own segmentation) on the consensus ROI
(:func:`cardiomm.compare.agreement.headline`); the reconstruction-only cells (the reference's ROI on the method's
images) follow as their own matrix, and the measurement procedure and the fits' valid fractions are printed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cardiomm.compare.agreement import LABELS, REFERENCE_LABELS, headline, mask_sort_key
from cardiomm.compare.power import power_markdown
from cardiomm.compare.tolerances import APPLIED_AS, TOLERANCES, default_tolerances
from cardiomm.compare.verdict import INCONCLUSIVE, NOT_PRESERVED, PRESERVED, verdict
from cardiomm.conventions import FULLY_SAMPLED, INDICATORS, REFERENCE, TRUTH, unit
from cardiomm.methods import CONTROLS, METHODS, REGISTRY, label

__all__ = ["METHOD_LABELS", "audit_markdown", "default_tolerances", "glance_cell", "method_label",
           "procedure_markdown", "verdict_matrix"]

#: display names: the two comparators, then every method's label from the registry (:mod:`cardiomm.methods`)
METHOD_LABELS: dict[str, str] = {TRUTH: "Truth", REFERENCE: "Reference", **{n: m.label for n, m in REGISTRY.items()}}
_COMPARATOR_LABELS = {TRUTH: "Truth", REFERENCE: "Reference"}
_MARK = {PRESERVED: "✓", NOT_PRESERVED: "✗", INCONCLUSIVE: "?"}
#: where the committed powered audit lives (the default run's audit points there)
POWERED_RESULT = "benchmarks/results/audit_cohort/"


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
    """One line: "CardioMM at ktRadial24 preserves 2/14 indicators; not preserved: ...; inconclusive: ..."; each
    verdict says only what its n shows (an undecided cell is inconclusive with the n that would decide)."""
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
            _ba_text(r) + f"; {_need_txt(r['n_needed'])} needed to decide)" for _, r in unsure.iterrows()
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


def glance_cell(row: pd.Series) -> str:
    """``✓ 0.3`` / ``✗ -45.1`` / ``? -12.3`` / ``? n/a``: the verdict mark and the bias (method − comparator)."""
    if not np.isfinite(row["bias"]):
        return "? n/a"
    return f"{_MARK[row['verdict']]} {_fmt(row['bias'], _decimals(row['tolerance']))}"


def verdict_matrix(agr: pd.DataFrame, tolerances: dict[str, float]) -> tuple[list[str], list[tuple[str, str]],
                                                                          dict[tuple[str, str, str], pd.Series]]:
    """The headline cells of one comparator's agreement rows, as the verdict map shows them.

    Returns ``(indicators, columns, cells)``: indicators in conventions order; columns ``(method, mask)`` with the
    null controls first, then the methods in registry order, masks by pattern and R; ``cells[(indicator, method,
    mask)]`` the agreement row (verdicts recomputed from ``tolerances``, :func:`with_verdicts`). Headline: end
    to end (own labels) on the consensus ROI (:func:`cardiomm.compare.agreement.headline`).
    """
    head = with_verdicts(headline(agr), tolerances)
    cols = _method_mask_pairs(head)
    indicators = [i for i in INDICATORS if i in set(head["indicator"])]
    cells = {(r["indicator"], r["method"], r["mask"]): r for _, r in head.iterrows()}
    return indicators, cols, cells


def _glance_section(agr: pd.DataFrame, comparator: str, tolerances: dict[str, float],
                    heatmap: str | None) -> list[str]:
    """The verdict map (figure, then the same matrix as text) of the headline cells against ``comparator``."""
    indicators, cols, cells = verdict_matrix(agr, tolerances)
    lines = [f"## Verdicts at a glance (against the {comparator})", ""]
    if heatmap:
        lines += [f"![Verdict map: indicator × method × mask, colour = verdict, text = bias]({heatmap})", ""]
    lines += ["Colour/mark: ✓ preserved, ✗ not preserved, ? inconclusive (undecided at this n); the number is the "
              f"bias (method − {comparator}, indicator's unit). End to end: each method's own segmentation; "
              "biomarkers on the consensus ROI. Null control first.", "",
              "| indicator (unit) | tolerance | " + " | ".join(f"{method_label(m)} {k}" for m, k in cols) + " |",
              "|---|---|" + "---|" * len(cols)]
    for ind in indicators:
        tol = tolerances.get(ind, math.nan)
        row = [f"{ind} ({unit(ind)})", f"±{_fmt(tol, _decimals(tol))}" if np.isfinite(tol) else "none"]
        row += [glance_cell(cells[(ind, m, k)]) if (ind, m, k) in cells else "" for m, k in cols]
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _null_control_section(agr: pd.DataFrame, comparator: str, tolerances: dict[str, float],
                          null_control: str) -> list[str]:
    """The gauge's proof: the null control's verdicts, and what they mean for every other verdict."""
    lines = ["## The gauge's proof: the null control", ""]
    ctl = with_verdicts(headline(agr), tolerances)
    ctl = ctl[ctl["method"].isin(CONTROLS)]
    if ctl.empty:
        why = null_control or "the run has no null control method"
        return [*lines, f"**No null control in this run**: {why}. Without a repeat scan measured like a "
                "reconstruction, nothing here shows that the gauge (segmentation, ROI, fit) can tell a repeat "
                "measurement from the reference within the tolerances: read each verdict as method and gauge "
                "together.", ""]
    for m in dict.fromkeys(ctl["method"]):
        sub = ctl[ctl["method"] == m]
        bad = sub[sub["verdict"] == NOT_PRESERVED]
        open_ = sub[sub["verdict"] == INCONCLUSIVE]
        n = int(sub["n"].max())
        label = method_label(m)
        lines.append(f"{label}: the same subjects acquired again, fully sampled, with fresh noise at the same SNR, "
                     f"and measured exactly like a reconstruction (n = {n}). It must come out preserved on every "
                     "indicator, with every bias CI containing 0.")
        lines.append("")
        if len(bad):
            lines.append(f"**The gauge is broken** on {', '.join(bad['indicator'])}: a repeat scan is not "
                         "preserved there. The verdicts of every method on these indicators measure the gauge "
                         "(segmentation, ROI, fit), not the reconstructions; do not read them as the methods'.")
        if len(open_):
            need = [f"{r['indicator']} ({_need_txt(r['n_needed'])})" for _, r in open_.iterrows()]
            lines.append(f"**The gauge is not yet proven** at n = {n} on {', '.join(need)}: until it is, a "
                         "method's ✗ or ? on these indicators may be the gauge's.")
        if not len(bad) and not len(open_):
            lines.append(f"**The gauge passes**: the repeat scan is shown preserved on all {len(sub)} indicators.")
        off = sub[np.isfinite(sub["bias_ci_low"]) & ((sub["bias_ci_low"] > 0) | (sub["bias_ci_high"] < 0))]
        if len(off):
            lines.append(f"Bias CI excluding 0 (a systematic difference between two acquisitions): "
                         f"{', '.join(off['indicator'])}.")
        lines += ["", "| indicator | bias | LoA | LoA CIs | tolerance | verdict |", "|---|---|---|---|---|---|"]
        for _, r in sub.iterrows():
            dec = _decimals(r["tolerance"])
            lines.append(f"| {r['indicator']} ({r['unit']}) | {_fmt(r['bias'], dec)} | [{_fmt(r['loa_low'], dec)}, "
                         f"{_fmt(r['loa_high'], dec)}] | [{_fmt(r['loa_low_ci_low'], dec)}, "
                         f"{_fmt(r['loa_high_ci_high'], dec)}] | ±{_fmt(r['tolerance'], dec)} | "
                         f"{_MARK[r['verdict']]} {r['verdict']} |")
        lines.append("")
    return lines


def _n_note(agr: pd.DataFrame, powered_n: int | None) -> list[str]:
    """The default run's warning: its n is illustrative; where the powered result is."""
    n = int(agr["n"].max()) if len(agr) else 0
    if powered_n is None or n >= powered_n:
        return [f"n = {n} paired subjects per cell at most (the powered audit's size is {powered_n})." if powered_n
                else f"n = {n} paired subjects per cell at most.", ""]
    return [f"**This audit's n is illustrative**: at most {n} paired subjects per cell, against the {powered_n} "
            "that the power analysis chose for a decision on every indicator (`benchmarks/results/power_cohort.md`). "
            f"Its verdicts say only what n = {n} shows: most cells are inconclusive, and a ✓ or ✗ here needs a very "
            f"large margin. {_powered_result_text()}", ""]


def _powered_result_text() -> str:
    """Where the powered audit is, or that it has not been committed yet (never a pointer to nothing)."""
    from pathlib import Path

    if (Path(__file__).resolve().parents[2] / POWERED_RESULT / "audit.md").exists():
        return f"The powered audit is committed in `{POWERED_RESULT}` (`audit.md`, its tables and figures)."
    return (f"No powered audit has been committed yet (it belongs in `{POWERED_RESULT}`): run "
            "`snakemake --configfile config/audit.yaml` for one.")


def _comparator_section(agr: pd.DataFrame, comparator: str, tolerances: dict[str, float]) -> list[str]:
    lines: list[str] = []
    # The report's tolerances are authoritative: recompute the verdict so the text and matrix agree.
    agr = with_verdicts(agr, tolerances)
    recon_only = agr[agr[LABELS] == REFERENCE_LABELS] if LABELS in agr.columns else agr.iloc[:0]
    agr = headline(agr)
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
    lines += _recon_only_matrix(headline(recon_only, labels=REFERENCE_LABELS), tolerances)
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


def _recon_only_matrix(rows: pd.DataFrame, tolerances: dict[str, float]) -> list[str]:
    """The reconstruction-only cells (the reference's ROI pixels on the method's images): what the reconstruction
    does to the tissue value, without what it does to the segmenter."""
    if rows.empty:
        return []
    cols = _method_mask_pairs(rows)
    lines = ["", "### Reconstruction only (the reference's ROI on the method's images)", "",
             "| indicator (unit) | tolerance | " + " | ".join(f"{method_label(m)} {k}" for m, k in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for ind in [i for i in INDICATORS if i in set(rows["indicator"])]:
        tol = tolerances.get(ind, math.nan)
        row = [f"{ind} ({unit(ind)})", f"±{_fmt(tol, _decimals(tol))}" if np.isfinite(tol) else "none"]
        for m, k in cols:
            hit = rows[(rows["indicator"] == ind) & (rows["method"] == m) & (rows["mask"] == k)]
            row.append(_cell(hit.iloc[0]) if len(hit) else "")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def procedure_markdown(biomarkers: pd.DataFrame | None) -> list[str]:
    """Section: the measurement procedure (the biomarker table's ``procedure``, one for every image) and the valid
    fraction of each cell's ROI fits (``valid_fraction``, or ``1 - n_invalid / n_pixels`` in older tables), per
    method x mask and biomarker: median [min] over the subjects, headline ROI and own labels."""
    lines = ["## Measurement procedure and valid fits", ""]
    if biomarkers is None or biomarkers.empty:
        return [*lines, "No biomarker table was given.", ""]
    b = biomarkers[biomarkers["method"] != TRUTH].copy()
    if "procedure" in b.columns and b["procedure"].notna().any():
        procs = list(dict.fromkeys(b["procedure"].dropna().astype(str)))
        if len(procs) == 1:
            lines.append(f"One procedure for every image (reference, null control, reconstructions): {procs[0]}.")
        else:
            lines.append("**More than one procedure ran** (the reference and the methods may not be measured "
                         "alike): " + "; ".join(procs) + ".")
    else:
        lines.append("The biomarker table does not record the fit procedure (no `procedure` column).")
    if "valid_fraction" in b.columns:
        b["vf"] = pd.to_numeric(b["valid_fraction"], errors="coerce")
    elif {"n_pixels", "n_invalid"} <= set(b.columns):
        npx = pd.to_numeric(b["n_pixels"], errors="coerce")
        b["vf"] = 1.0 - pd.to_numeric(b["n_invalid"], errors="coerce") / npx.where(npx > 0)
    else:
        return [*lines, "", "The biomarker table records no valid fractions (no `valid_fraction` column).", ""]
    b = headline(b)
    bms = [i for i in INDICATORS if i in set(b["indicator"])]
    lines += ["", "Fraction of the ROI's pixels whose fit is valid, per method × mask: median [min] over subjects "
              "(end to end, headline ROI).", "",
              "| method | mask | " + " | ".join(bms) + " |", "|---|---|" + "---|" * len(bms)]
    for m, k in _method_mask_pairs(b):
        sub = b[(b["method"] == m) & (b["mask"] == k)]
        cells = []
        for ind in bms:
            v = sub.loc[sub["indicator"] == ind, "vf"].dropna()
            cells.append(f"{v.median():.2f} [{v.min():.2f}]" if len(v) else "n/a")
        lines.append(f"| {method_label(m)} | {k} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def audit_markdown(agreement: pd.DataFrame, tolerances: dict[str, float], sources: dict[str, str], cohort: str,
                   biomarkers: pd.DataFrame | None = None, *, heatmap: str | None = None, null_control: str = "",
                   powered_n: int | None = None) -> str:
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
    biomarkers : the biomarker table (optional): adds the procedure / valid-fraction section
        (:func:`procedure_markdown`; the noise-floor section of the one-sided floor policy is gone, issue 30).
    heatmap : path of the verdict map figure relative to the audit (drawn by
        :func:`cardiomm.figures.plots.verdict_heatmap`), shown at the top.
    null_control : why the run has no null control (``""`` when it has one; :attr:`cardiomm.workflow.Plan.
        null_control`).
    powered_n : the powered audit's subjects per cell (config ``agreement.powered_n``); an audit with fewer says
        that its n is illustrative and points to :data:`POWERED_RESULT`.

    Returns
    -------
    The Markdown text: title, the n note, the verdict map (figure and text matrix, null control first) against
    the first comparator, the null control's section (the gauge's proof), the criterion; then per comparator an
    at-a-glance count table, the summary matrix (rows indicators with unit and tolerance, columns method x mask,
    cells verdict mark, bias [LoA], n needed when inconclusive), the reconstruction-only matrix, one sentence per
    method x mask, the non-computable cells with reasons; the power table, the measurement procedure and valid
    fractions, the noise-floor table, and the tolerance table (value, what it is, source).
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
    ]
    comps = sorted(agreement["comparator"].unique(), key=lambda c: (c != REFERENCE, c))
    if agreement.empty:
        lines += ["No agreement rows: nothing to audit.", ""]
    else:
        main = agreement[agreement["comparator"] == comps[0]]
        lines += _n_note(headline(main), powered_n)
        lines += _glance_section(main, comps[0], tolerances, heatmap)
        lines += _null_control_section(main, comps[0], tolerances, null_control)
    lines += [
        "## The verdict rule",
        "",
        "Verdict per indicator × method × mask, from the Bland-Altman limits of agreement (LoA = bias ± 1.96 SD "
        "of the paired differences) and their 95% CIs (LoA ± t·SD·√(1/n + 1.96²/(2(n−1))), Bland & Altman 1999). "
        "The rule is symmetric in evidence: each verdict needs a 95% interval on its side of the tolerance.",
        "",
        "- **preserved** (✓): the CIs of both limits of agreement lie inside ± the tolerance;",
        "- **not preserved** (✗): the data exclude preservation: the CI of a limit lies wholly outside the "
        "tolerance, or the CI of the bias does;",
        "- **inconclusive** (?): neither; shown with the number of pairs that would decide it, either way, if bias "
        "and SD stayed as observed. Cells without enough valid pairs are inconclusive.",
        "",
        f"Tolerances are applied as {APPLIED_AS}s; the table at the end says what each value is and where it "
        "comes from.",
        "",
    ]
    for comp in comps:
        lines += _comparator_section(agreement[agreement["comparator"] == comp], comp, tolerances)
    if not agreement.empty:
        lines += power_markdown(agreement, tolerances)
    if biomarkers is not None:
        lines += procedure_markdown(biomarkers)
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
