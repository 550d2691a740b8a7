"""Clinical-indicator preservation audit: which indicators survive which acceleration, per method.

An indicator is *preserved* by a method at a mask when its Bland-Altman bias and both limits of
agreement against the comparator lie within +/- a tolerance taken from the literature on
inter-observer / scan-rescan reproducibility (:func:`default_tolerances`). The rationale: if the
accelerated pipeline disagrees with the fully sampled one by no more than two expert readers (or two
scans) disagree with each other, a clinician would not notice the acceleration.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cardiomm.compare.agreement import is_preserved, mask_sort_key
from cardiomm.conventions import FULLY_SAMPLED, INDICATORS, METHODS, REFERENCE, TRUTH, unit

METHOD_LABELS: dict[str, str] = {
    TRUTH: "Truth",
    REFERENCE: "Reference",
    "zerofilled": "Zero-filled",
    "sense": "SENSE",
    "varnet": "E2E-VarNet",
    "cardiomm": "CardioMM-style (ours)",
    "cardiomm_official": "CardioMM (official arch.)",
    "promptmr": "PromptMR+",
}
_METHOD_ORDER = (TRUTH, REFERENCE, *METHODS)

_GROTHUES_LV = "Grothues et al. 2002 Am J Cardiol 90:29-34 (CMR interstudy reproducibility of LV volumes/EF/mass)"
_GROTHUES_RV = "Grothues et al. 2004 Am Heart J 147:218-223 (CMR interstudy reproducibility of RV volumes/EF)"
_UKB = "UK Biobank inter-observer analysis (Petersen et al. 2017 JCMR 19:18; Bai et al. 2018 JCMR 20:65)"
_SUINESIAPUTRA = "Suinesiaputra et al. 2015 JCMR 17:63 (multi-centre inter-reader variability)"

# indicator -> (tolerance in the indicator's unit, citation). The tolerance bounds |bias| and both
# LoAs, so it is on the scale of inter-observer limits of agreement (about 2 SD of inter-observer
# differences), not of the SD itself. Values are rounded to what a CMR reader would accept.
_DEFAULTS: dict[str, tuple[float, str]] = {
    "LVEDV": (12.0, f"approximate, from {_GROTHUES_LV}; {_UKB}; inter-observer LoA of about +/-10-15 mL"),
    "LVESV": (10.0, f"approximate, from {_GROTHUES_LV}; {_UKB}; inter-observer LoA of about +/-8-12 mL"),
    "LVSV": (10.0, f"approximate, from {_GROTHUES_LV}; {_UKB}; combines the EDV and ESV variability"),
    "LVEF": (5.0, f"approximate, from {_GROTHUES_LV}; {_SUINESIAPUTRA}; inter-observer LoA of about "
                  "+/-4-6 percentage points, also the usual threshold for a clinically relevant EF change"),
    "LVCO": (0.7, "approximate, derived: LVSV tolerance (10 mL) x a resting heart rate of ~70 bpm; "
                  f"SV reproducibility from {_GROTHUES_LV}"),
    "LVM": (10.0, f"approximate, from {_GROTHUES_LV}; {_UKB}; inter-observer LoA of about +/-8-15 g"),
    "RVEDV": (15.0, f"approximate, from {_GROTHUES_RV}; {_UKB}; RV inter-observer LoA of about +/-12-20 mL"),
    "RVESV": (12.0, f"approximate, from {_GROTHUES_RV}; {_UKB}; RV inter-observer LoA of about +/-10-15 mL"),
    "RVSV": (12.0, f"approximate, from {_GROTHUES_RV}; combines the RV EDV and ESV variability"),
    "RVEF": (6.0, f"approximate, from {_GROTHUES_RV}; RV EF inter-observer LoA of about +/-5-8 percentage points"),
    "WT": (1.0, "approximate: inter-observer LoA of global/segmental wall thickness of about +/-1 mm "
                f"(e.g. {_UKB}; AHA 16-segment wall-thickness reproducibility studies)"),
    "T1": (30.0, "approximate, from Messroghli et al. 2017 JCMR 19:75 (SCMR/EACVI T1 mapping consensus) and "
                 "Kellman & Hansen 2014 JCMR 16:2: native myocardial T1 scan-rescan/inter-observer variation of "
                 "a few percent, i.e. tens of ms at 1.5 T"),
    "T2": (3.0, "approximate, from Giri et al. 2009 JCMR 11:56 (T2 mapping) and Messroghli et al. 2017 JCMR 19:75: "
                "myocardial T2 reproducibility of a few ms"),
    "T1rho": (4.0, "approximate, from van Oorschot et al. 2014 JCMR 16:104 (myocardial T1rho mapping): "
                   "myocardial T1rho of ~50 ms at 1.5 T with reported variation of a few ms"),
}  # fmt: skip


def default_tolerances() -> tuple[dict[str, float], dict[str, str]]:
    """Literature-based tolerances for all 14 indicators, with one citation string each.

    Returns
    -------
    (tolerances, sources): indicator -> tolerance in the unit of :func:`cardiomm.conventions.unit`
    (mL, %, L/min, g, mm, ms), and indicator -> citation. Both are fresh dicts, so a config can
    override entries (``tol.update(config["tolerances"])``) without touching the defaults.
    Citations say "approximate, from" because the exact figures differ between studies and
    populations; the values are rounded clinical judgements informed by those studies.
    """
    missing = set(INDICATORS) - set(_DEFAULTS)
    if missing:  # guards against a new indicator in conventions without a tolerance here
        raise RuntimeError(f"default_tolerances: no tolerance for {sorted(missing)}")
    return {k: v[0] for k, v in _DEFAULTS.items()}, {k: v[1] for k, v in _DEFAULTS.items()}


def method_label(method: str) -> str:
    """Display name of a method (``"cardiomm"``, our variant -> ``"CardioMM-style (ours)"``)."""
    return METHOD_LABELS.get(method, method)


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


def _cell(row: pd.Series) -> str:
    """``✓ -0.4 [-2.1, 1.3]`` / ``✗ ...`` / ``— n/a`` for one agreement row."""
    if not np.isfinite(row["bias"]):
        return "— n/a"
    dec = _decimals(row["tolerance"])
    mark = "✓" if bool(row["preserved"]) else "✗"
    return f"{mark} {_fmt(row['bias'], dec)} [{_fmt(row['loa_low'], dec)}, {_fmt(row['loa_high'], dec)}]"


def _sentence(method: str, mask: str, sub: pd.DataFrame) -> str:
    """One line: "CardioMM at ktRadial24 preserves 12/14 indicators; not preserved: ...; not computable: ..."."""
    n_total = len(sub)
    ok = sub[sub["preserved"].astype(bool)]
    failed = sub[~sub["preserved"].astype(bool) & np.isfinite(sub["bias"])]
    na = sub[~np.isfinite(sub["bias"])]
    where = "" if mask == FULLY_SAMPLED else f" at {mask}"
    text = f"**{method_label(method)}{where}** preserves {len(ok)}/{n_total} indicators"
    if len(failed):
        parts = []
        for _, r in failed.iterrows():
            dec, u = _decimals(r["tolerance"]), r["unit"]
            parts.append(
                f"{r['indicator']} (bias {_fmt(r['bias'], dec)} {u}, LoA [{_fmt(r['loa_low'], dec)}, "
                f"{_fmt(r['loa_high'], dec)}] {u}, tolerance ±{_fmt(r['tolerance'], dec)} {u})"
            )
        text += "; not preserved: " + ", ".join(parts)
    if len(na):
        reasons = (f"{r['indicator']} ({_md_escape(r['reason'])})" for _, r in na.iterrows())
        text += "; not computable: " + ", ".join(reasons)
    return text + "."


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------
_REQUIRED = ("indicator", "unit", "method", "mask", "comparator", "n", "bias", "loa_low", "loa_high",
             "tolerance", "preserved", "reason")  # fmt: skip


def _reason_table(rows: pd.DataFrame, last: str) -> list[str]:
    out = [f"| indicator | method | mask | n | {last} |", "|---|---|---|---|---|"]
    for _, r in rows.iterrows():
        cells = (r["indicator"], method_label(r["method"]), r["mask"], int(r["n"]), _md_escape(r["reason"]))
        out.append("| " + " | ".join(map(str, cells)) + " |")
    return out


def _comparator_section(agr: pd.DataFrame, comparator: str, tolerances: dict[str, float]) -> list[str]:
    lines: list[str] = []
    agr = agr.copy()
    # The report's tolerances are authoritative: recompute the verdict so the text and matrix agree.
    agr["tolerance"] = agr["indicator"].map(lambda i: float(tolerances.get(i, math.nan)))
    agr["preserved"] = [
        is_preserved(*v) for v in zip(agr["bias"], agr["loa_low"], agr["loa_high"], agr["tolerance"], strict=True)
    ]
    methods = sorted(agr["method"].unique(), key=lambda m: _METHOD_ORDER.index(m) if m in _METHOD_ORDER else 99)
    cols = [
        (m, k) for m in methods for k in sorted(agr.loc[agr["method"] == m, "mask"].unique(), key=mask_sort_key)
    ]
    indicators = [i for i in INDICATORS if i in set(agr["indicator"])]
    n_subj = int(agr["n"].max()) if len(agr) else 0
    lines += [
        f"## Against the {comparator}",
        "",
        f"Up to {n_subj} paired subjects per cell. Cells: ✓ preserved / ✗ not preserved / — not computable, "
        "followed by bias [lower LoA, upper LoA] in the indicator's unit (method − comparator).",
        "",
        "### At a glance: indicators preserved",
        "",
    ]
    masks = sorted({k for _, k in cols}, key=mask_sort_key)
    lines.append("| method | " + " | ".join(masks) + " |")
    lines.append("|---|" + "---|" * len(masks))
    for m in methods:
        cells = []
        for k in masks:
            sub = agr[(agr["method"] == m) & (agr["mask"] == k)]
            cells.append(f"{int(sub['preserved'].sum())}/{len(sub)}" if len(sub) else "")
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


def audit_markdown(agreement: pd.DataFrame, tolerances: dict[str, float], sources: dict[str, str], cohort: str) -> str:
    """Markdown report answering "which indicators survive which acceleration, per method".

    Parameters
    ----------
    agreement : output of :func:`cardiomm.compare.agreement.agreement_table` (one or several
        comparators concatenated; one section per comparator, reference first).
    tolerances : indicator -> tolerance (indicator's unit). These decide ✓/✗ here: ``preserved``
        is recomputed from bias, LoA and these tolerances so the report and its stated
        tolerances can never disagree.
    sources : indicator -> citation string for the tolerance.
    cohort : cohort name shown in the title.

    Returns
    -------
    The Markdown text: title and criterion, then per comparator an at-a-glance count table, the
    summary matrix (rows indicators with unit and tolerance, columns method x mask, cells
    ✓/✗ bias [LoA]), one sentence per method x mask, the non-computable cells with reasons; and
    finally the tolerance sources.
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
        "An indicator is **preserved** (✓) when, against the comparator, the Bland-Altman bias and both 95% "
        "limits of agreement (bias ± 1.96 SD of the paired differences) lie within ± the tolerance, i.e. the "
        "accelerated result disagrees with the comparator by no more than expert readers or repeated scans "
        "disagree with each other. Not computable cells (too few valid pairs) count as not preserved.",
        "",
    ]
    if agreement.empty:
        lines += ["No agreement rows: nothing to audit.", ""]
    comps = sorted(agreement["comparator"].unique(), key=lambda c: (c != REFERENCE, c))
    for comp in comps:
        lines += _comparator_section(agreement[agreement["comparator"] == comp], comp, tolerances)
    lines += ["## Tolerance sources", "", "| indicator | unit | tolerance | source |", "|---|---|---|---|"]
    for ind in INDICATORS:
        tol = tolerances.get(ind, math.nan)
        tol_s = f"±{_fmt(tol, _decimals(tol))}" if np.isfinite(tol) else "none"
        lines.append(f"| {ind} | {unit(ind)} | {tol_s} | {_md_escape(sources.get(ind, 'source not given'))} |")
    lines.append("")
    return "\n".join(lines)
