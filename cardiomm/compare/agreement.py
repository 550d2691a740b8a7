"""Agreement of accelerated indicators with a comparator: Bland-Altman, ICC, Pearson r, Wilcoxon, CoV.

Input is the long indicator table written by the quantify stage (``phenotypes.csv`` /
``biomarkers.csv``), one row per subject x method x mask x indicator with columns
:data:`INDICATOR_COLUMNS`. For every indicator x method x mask the method's values are paired by
subject with the comparator's values (``"reference"``, the fully sampled reconstruction, or
``"truth"``, the phantom's known value) and summarised in one row of :func:`agreement_table`.

Statistics (d = method - comparator, n valid pairs)
---------------------------------------------------
- Bland-Altman (Bland & Altman 1986; CIs from Bland & Altman 1999, Stat Methods Med Res 8:135):
  bias = mean(d), sd = SD(d) (ddof 1), LoA = bias -/+ 1.96 sd,
  CI(bias) = bias -/+ t(0.975, n-1) sd / sqrt(n),
  CI(LoA) = LoA -/+ t(0.975, n-1) sd sqrt(1/n + 1.96^2 / (2 (n-1))) (their section 3; not the large-n
  shortcut sqrt(3/n), which is 12% too narrow at n = 3).
- ICC(A,1) (McGraw & Wong 1996): two-way random effects, absolute agreement, single measurement,
  taken from :func:`pingouin.intraclass_corr` (see :func:`icc_a1` for the row chosen).
- Pearson r (:func:`scipy.stats.pearsonr`), Wilcoxon signed-rank p (:func:`scipy.stats.wilcoxon`).
- cov_pct = 100 sd / |mean of the pair means|; mad = mean |d|.

Each cell gets a three-valued ``verdict`` (``preserved`` / ``not preserved`` / ``inconclusive``, with the
``n_needed`` to decide) from :mod:`cardiomm.compare.verdict`; ``preserved`` is ``verdict == "preserved"``.
Degenerate cells never raise: they get NaN statistics, an ``inconclusive`` verdict and a human-readable ``reason``.

Cells (``/work/wt/GAUGE_CONTRACT.md``): indicator x ``roi`` x ``labels`` x method x mask. ``roi`` is the biomarker's
region (``consensus``, ``global``, ``AHA1``..``AHA16``; empty for phenotypes) and ``labels`` whose segmentation
defined it (``own``: the method's, end to end; ``reference``: the reference's ROI on the method's images,
reconstruction only). A method row is paired with the comparator's row of the same subject, indicator and ``roi``
with ``labels = own`` (the reference and the truth are measured on their own labels). Tables without these
columns (older tables, phenotypes) are read as ``roi = ""`` and ``labels = own``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pingouin
from scipy import stats

from cardiomm.compare.tolerances import default_tolerances
from cardiomm.compare.verdict import LOA_Z, PRESERVED, loa_ci_half_width, verdict
from cardiomm.conventions import (
    ALL_PATTERNS,
    FULLY_SAMPLED,
    INDICATORS,
    REFERENCE,
    TRUTH,
    MaskName,
    unit,
)
from cardiomm.methods import METHODS

INDICATOR_COLUMNS = ("subject", "split", "method", "mask", "indicator", "unit", "value", "qc_pass", "qc_reason")
#: the optional cell columns of the contract, with the value a table without them is read as
ROI, LABELS = "roi", "labels"
OWN, REFERENCE_LABELS = "own", "reference"
LABEL_KINDS = (OWN, REFERENCE_LABELS)
#: the headline ROI of the biomarkers (the SCMR/EACVI consensus ROI; phenotypes have roi "")
HEADLINE_ROI = "consensus"
AGREEMENT_COLUMNS = (
    "indicator", "unit", "roi", "labels", "method", "mask", "comparator", "n", "n_qc_failed", "n_nonfinite",
    "n_unpaired", "splits",
    "mean_comparator", "mean_method", "bias", "sd", "loa_low", "loa_high", "bias_ci_low", "bias_ci_high",
    "loa_low_ci_low", "loa_low_ci_high", "loa_high_ci_low", "loa_high_ci_high",
    "icc", "icc_ci_low", "icc_ci_high", "pearson_r", "wilcoxon_p", "cov_pct", "mad",
    "tolerance", "verdict", "n_needed", "preserved", "reason",
)  # fmt: skip
COMPARATORS = (REFERENCE, TRUTH)



def known_methods() -> tuple[str, ...]:
    """The comparators and every registered method, in table order (read now: a method registered later too)."""
    return (TRUTH, REFERENCE, *METHODS)

MIN_PAIRS = 3

_STAT_KEYS = (
    "bias", "sd", "loa_low", "loa_high", "bias_ci_low", "bias_ci_high", "loa_low_ci_low", "loa_low_ci_high",
    "loa_high_ci_low", "loa_high_ci_high", "icc", "icc_ci_low", "icc_ci_high", "pearson_r", "wilcoxon_p",
    "cov_pct", "mad",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Input validation and pairing
# --------------------------------------------------------------------------------------------
def _as_bool(series: pd.Series, name: str) -> pd.Series:
    """``qc_pass`` as booleans; a CSV round trip may give strings such as ``"True"``."""
    if series.dtype == bool:
        return series
    mapping = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    out = series.map(lambda v: v if isinstance(v, bool | np.bool_) else mapping.get(str(v).strip().lower()))
    bad = series[out.isna()]
    if len(bad):
        raise ValueError(f"{name}: column 'qc_pass' must be boolean; got {sorted(map(str, bad.unique()))[:5]}")
    return out.astype(bool)


def mask_sort_key(mask: str) -> tuple[int, int, str]:
    """Sort key: ``full`` first, then pattern order of :data:`ALL_PATTERNS`, then acceleration."""
    if mask == FULLY_SAMPLED:
        return (-1, 0, mask)
    m = MaskName.of(mask)
    return (ALL_PATTERNS.index(m.pattern), m.R, mask)


def validate_indicator_table(df: pd.DataFrame, name: str = "df") -> pd.DataFrame:
    """Check and normalise a long indicator table.

    Parameters
    ----------
    df : DataFrame with at least :data:`INDICATOR_COLUMNS`.
    name : how the table is called in error messages (e.g. a file path).

    Returns
    -------
    A copy with ``value`` as float, ``qc_pass`` as bool, and ``roi`` (``""`` where absent) and ``labels``
    (``own`` where absent) as strings.

    Raises
    ------
    ValueError on missing columns, unknown indicators / methods / masks, units that differ from
    :mod:`cardiomm.conventions`, or duplicated subject x method x mask x indicator rows.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in INDICATOR_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}; expected {list(INDICATOR_COLUMNS)}")
    out = df.copy()
    out["subject"] = out["subject"].astype(str)
    out[ROI] = out[ROI].fillna("").astype(str) if ROI in out.columns else ""
    out[LABELS] = out[LABELS].fillna(OWN).astype(str) if LABELS in out.columns else OWN
    bad_labels = sorted(set(out[LABELS]) - set(LABEL_KINDS))
    if bad_labels:
        raise ValueError(f"{name}: column 'labels' has unknown values {bad_labels}; known: {list(LABEL_KINDS)}")
    unknown = sorted(set(out["indicator"]) - set(INDICATORS))
    if unknown:
        raise ValueError(f"{name}: unknown indicators {unknown}; known: {list(INDICATORS)}")
    bad_methods = sorted(set(out["method"]) - set(known_methods()))
    if bad_methods:
        raise ValueError(f"{name}: unknown methods {bad_methods}; known: {list(known_methods())}")
    for mask in out["mask"].unique():
        if mask != FULLY_SAMPLED:
            try:
                MaskName.of(str(mask))
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None
    expected_units = out["indicator"].map(unit)
    wrong = out[expected_units != out["unit"]]
    if len(wrong):
        ind, got = wrong.iloc[0]["indicator"], wrong.iloc[0]["unit"]
        raise ValueError(f"{name}: indicator {ind} has unit {got!r}, expected {unit(ind)!r}")
    dup = out.duplicated(["subject", "method", "mask", "indicator", ROI, LABELS], keep=False)
    if dup.any():
        row = out[dup].iloc[0]
        where = "".join(f" {c}={row[c]}" for c in (ROI, LABELS) if row[c] not in ("", OWN))
        raise ValueError(
            f"{name}: duplicated rows for subject={row['subject']} method={row['method']} mask={row['mask']} "
            f"indicator={row['indicator']}{where}"
        )
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(float)
    out["qc_pass"] = _as_bool(out["qc_pass"], name)
    return out


def roi_sort_key(roi: str) -> tuple[int, int, str]:
    """Sort key of the ``roi`` column: ``""`` (phenotypes), ``consensus``, ``global``, ``AHA1``..``AHA16``, others."""
    fixed = {"": 0, HEADLINE_ROI: 1, "global": 2}
    if roi in fixed:
        return (fixed[roi], 0, roi)
    if roi.startswith("AHA") and roi[3:].isdigit():
        return (3, int(roi[3:]), roi)
    return (4, 0, roi)


def headline_roi(rois: set[str] | list[str]) -> str:
    """The ROI an indicator's headline verdict uses among those present: ``consensus``, else ``""`` (no ROI
    column: an older table or a phenotype), else the first in :func:`roi_sort_key` order."""
    rois = set(rois)
    for r in (HEADLINE_ROI, ""):
        if r in rois:
            return r
    return sorted(rois, key=roi_sort_key)[0]


def headline(df: pd.DataFrame, labels: str = OWN) -> pd.DataFrame:
    """The rows of a table (indicator or agreement) that the audit's headline uses: ``labels`` (default ``own``,
    end to end) and per indicator its :func:`headline_roi`. Tables without the columns are returned whole."""
    if ROI not in df.columns and LABELS not in df.columns:
        return df
    roi = df[ROI].fillna("").astype(str) if ROI in df.columns else pd.Series("", index=df.index)
    lab = df[LABELS].fillna(OWN).astype(str) if LABELS in df.columns else pd.Series(OWN, index=df.index)
    keep = lab == labels
    head = {ind: headline_roi(set(roi[df["indicator"] == ind])) for ind in df["indicator"].unique()}
    return df[keep & (roi == df["indicator"].map(head))]


def paired_values(
    df: pd.DataFrame, indicator: str, method: str, mask: str, comparator: str = REFERENCE, roi: str | None = None,
    labels: str = OWN,
) -> tuple[pd.DataFrame, int, int, int]:
    """Pair one method x mask with the comparator by subject for one indicator (and ROI, labels).

    Parameters
    ----------
    df : a table already passed through :func:`validate_indicator_table`.
    roi, labels : the method rows' ROI and labels; the comparator's rows are those of the same ROI with
        ``labels = own``. ``roi=None``: the indicator's :func:`headline_roi`.

    Returns
    -------
    pairs : DataFrame indexed by subject with columns ``method``, ``comparator`` (values in the
        indicator's unit) and ``split``; only valid pairs (both finite, both ``qc_pass``).
    n_qc_failed : pairs dropped because either side has ``qc_pass`` False.
    n_nonfinite : pairs that passed QC but hold a NaN / infinite value on either side.
    n_unpaired : subjects present on only one side.
    """
    sel = df[df["indicator"] == indicator]
    if roi is None:
        roi = headline_roi(set(sel[ROI]))
    sel = sel[sel[ROI] == roi]
    comp = sel[(sel["method"] == comparator) & (sel[LABELS] == OWN)].set_index("subject")
    meth = sel[(sel["method"] == method) & (sel["mask"] == mask) & (sel[LABELS] == labels)].set_index("subject")
    common = meth.index.intersection(comp.index)
    n_unpaired = len(meth.index.symmetric_difference(comp.index))
    c, m = comp.loc[common], meth.loc[common]
    qc_ok = c["qc_pass"] & m["qc_pass"]
    finite = np.isfinite(c["value"]) & np.isfinite(m["value"])
    pairs = pd.DataFrame({"method": m["value"], "comparator": c["value"], "split": m["split"]})[qc_ok & finite]
    return pairs.sort_index(), int((~qc_ok).sum()), int((qc_ok & ~finite).sum()), n_unpaired


# --------------------------------------------------------------------------------------------
# Statistics on one set of pairs
# --------------------------------------------------------------------------------------------
def bland_altman(method: np.ndarray, comparator: np.ndarray) -> dict[str, float]:
    """Bland-Altman bias, SD of differences, limits of agreement and their 95% CIs.

    Parameters
    ----------
    method, comparator : arrays of shape (n,), paired values in the same unit, n >= 2.

    Returns
    -------
    dict with ``bias, sd, loa_low, loa_high, bias_ci_low, bias_ci_high, loa_low_ci_low,
    loa_low_ci_high, loa_high_ci_low, loa_high_ci_high`` (same unit as the input).
    Differences are ``method - comparator``; SE(bias) = sd/sqrt(n), SE(LoA) = sd*sqrt(1/n + 1.96^2/(2(n-1)))
    (Bland & Altman 1999), with the t quantile on n-1 degrees of freedom.
    """
    d = np.asarray(method, dtype=float) - np.asarray(comparator, dtype=float)
    if d.ndim != 1 or d.size < 2:
        raise ValueError(f"bland_altman: need two 1D arrays with at least 2 pairs, got shape {d.shape}")
    n = d.size
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    t = float(stats.t.ppf(0.975, n - 1))
    hw_bias, hw_loa = t * sd / math.sqrt(n), float(loa_ci_half_width(sd, n))
    lo, hi = bias - LOA_Z * sd, bias + LOA_Z * sd
    return {
        "bias": bias, "sd": sd, "loa_low": lo, "loa_high": hi,
        "bias_ci_low": bias - hw_bias, "bias_ci_high": bias + hw_bias,
        "loa_low_ci_low": lo - hw_loa, "loa_low_ci_high": lo + hw_loa,
        "loa_high_ci_low": hi - hw_loa, "loa_high_ci_high": hi + hw_loa,
    }  # fmt: skip


@contextlib.contextmanager
def _pingouin_full_precision() -> Iterator[None]:
    """pingouin rounds the CI95 column to 2 decimals by default; keep full precision, then restore."""
    saved = dict(pingouin.options)
    for key in [k for k in pingouin.options if k.startswith("round.")]:
        del pingouin.options[key]
    pingouin.options["round"] = None
    try:
        yield
    finally:
        pingouin.options.clear()
        pingouin.options.update(saved)


def icc_a1(method: np.ndarray, comparator: np.ndarray) -> tuple[float, float, float]:
    """ICC(A,1) with its 95% CI: two-way random effects, absolute agreement, single measurement.

    Computed with :func:`pingouin.intraclass_corr` (pingouin 0.7.0), subjects as targets and the
    two sources (method, comparator) as raters. pingouin 0.7.0 labels its six rows in the McGraw &
    Wong (1996) notation ``ICC(1,1), ICC(A,1), ICC(C,1), ICC(1,k), ICC(A,k), ICC(C,k)``; older
    releases called the same row ``ICC2`` ("single random raters"). We deliberately take the
    ``ICC(A,1)`` row: ICC = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n), which penalises a
    systematic bias between the reconstruction and the comparator (consistency ICC(C,1) would not)
    and describes a single measurement (we never average methods). Its CI is McGraw & Wong's
    F-based interval for case 2A.

    Parameters
    ----------
    method, comparator : arrays of shape (n,), n >= 2, paired by subject.

    Returns
    -------
    (icc, ci_low, ci_high); NaN where the ANOVA is degenerate (callers check for that first).
    """
    m, c = np.asarray(method, dtype=float), np.asarray(comparator, dtype=float)
    n = m.size
    long = pd.DataFrame(
        {"subject": np.tile(np.arange(n), 2), "rater": np.repeat(["method", "comparator"], n), "value": np.r_[m, c]}
    )
    with _pingouin_full_precision(), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = pingouin.intraclass_corr(long, targets="subject", raters="rater", ratings="value")
    row = res.set_index("Type").loc["ICC(A,1)"]
    lo, hi = (float(v) for v in row["CI95"])
    return float(row["ICC"]), lo, hi


def pair_statistics(method: np.ndarray, comparator: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """All agreement statistics of one set of valid pairs, with notes on what could not be computed.

    Parameters
    ----------
    method, comparator : arrays of shape (n,), finite, paired.

    Returns
    -------
    (statistics keyed as in :data:`AGREEMENT_COLUMNS`, list of reasons); statistics that are
    undefined are NaN and explained in the reasons. Fewer than :data:`MIN_PAIRS` pairs gives all
    NaN and the reason ``"n<3"``.
    """
    out = dict.fromkeys(_STAT_KEYS, math.nan)
    m, c = np.asarray(method, dtype=float), np.asarray(comparator, dtype=float)
    n = m.size
    if n < MIN_PAIRS:
        return out, [f"n<{MIN_PAIRS} (n={n})"]
    reasons: list[str] = []
    d = m - c
    out.update(bland_altman(m, c))
    out["mad"] = float(np.abs(d).mean())
    pair_mean = float(((m + c) / 2).mean())
    if pair_mean != 0:
        out["cov_pct"] = 100.0 * out["sd"] / abs(pair_mean)
    else:
        reasons.append("mean of pair means is 0: CoV undefined")
    if np.all(d == 0):
        reasons.append("all differences zero: Wilcoxon undefined")
    else:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out["wilcoxon_p"] = float(stats.wilcoxon(m, c).pvalue)
    if np.ptp(m) == 0 or np.ptp(c) == 0:
        reasons.append("constant values: Pearson r undefined")
    else:
        out["pearson_r"] = float(stats.pearsonr(m, c).statistic)
    if np.ptp(np.r_[m, c]) == 0:
        reasons.append("zero variance: ICC undefined")
    else:
        icc, lo, hi = icc_a1(m, c)
        if np.isfinite(icc):
            out["icc"], out["icc_ci_low"], out["icc_ci_high"] = icc, lo, hi
            if not (np.isfinite(lo) and np.isfinite(hi)):
                reasons.append("ICC CI undefined (zero residual variance)")
        else:
            reasons.append("ICC undefined (degenerate ANOVA)")
    return out, reasons


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------
def _check_tolerances(tolerances: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(tolerances) - set(INDICATORS))
    if unknown:
        raise ValueError(f"tolerances: unknown indicators {unknown}; known: {list(INDICATORS)}")
    out = {}
    for k, v in tolerances.items():
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"tolerances[{k!r}] must be a number, got {v!r}") from None
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"tolerances[{k!r}] must be a positive finite number, got {v}")
        out[k] = v
    return out


def agreement_table(
    df: pd.DataFrame, comparator: str = REFERENCE, tolerances: dict[str, float] | None = None
) -> pd.DataFrame:
    """Agreement of every indicator x method x mask with ``comparator``, paired by subject.

    Parameters
    ----------
    df : long indicator table with :data:`INDICATOR_COLUMNS` (phenotypes and/or biomarkers; all
        splits present are pooled, so filter by ``split`` beforehand to report a split alone).
    comparator : ``"reference"`` (fully sampled reconstruction) or ``"truth"`` (phantom values).
        The comparator's own rows are never compared with themselves. With ``"reference"`` the
        ``truth`` rows are skipped too (truth is not an acceleration; its agreement with the
        reference is the row ``method="reference"`` of the ``"truth"`` table, with the sign flipped).
    tolerances : indicator -> allowed LoA half-width in the indicator's unit; ``None`` takes
        :func:`cardiomm.compare.tolerances.default_tolerances`. Indicators without a tolerance get
        NaN tolerance and an ``inconclusive`` verdict.

    Returns
    -------
    DataFrame with columns :data:`AGREEMENT_COLUMNS`, one row per indicator x roi x labels x method x mask,
    sorted by indicator (conventions order), roi (:func:`roi_sort_key`), labels (own first), method (registry
    order) and mask (pattern, R).
    ``reason`` lists everything excluded or undefined ("" when nothing); ``verdict`` and ``n_needed`` come
    from :func:`cardiomm.compare.verdict.verdict`; ``preserved`` is ``verdict == "preserved"``.
    """
    if comparator not in COMPARATORS:
        raise ValueError(f"comparator must be one of {COMPARATORS}, got {comparator!r}")
    data = validate_indicator_table(df)
    if not (data["method"] == comparator).any():
        raise ValueError(f"df: no rows with method={comparator!r} to compare against")
    comp_masks = set(data.loc[data["method"] == comparator, "mask"])
    if comp_masks != {FULLY_SAMPLED}:
        raise ValueError(
            f"df: comparator {comparator!r} rows must have mask {FULLY_SAMPLED!r}, got {sorted(comp_masks)}"
        )
    if tolerances is None:
        tolerances = default_tolerances()[0]
    tolerances = _check_tolerances(tolerances)

    skip = {comparator} | ({TRUTH} if comparator == REFERENCE else set())
    cells = data.loc[~data["method"].isin(skip), ["indicator", ROI, LABELS, "method", "mask"]].drop_duplicates()
    cells = sorted(
        cells.itertuples(index=False, name=None),
        key=lambda r: (list(INDICATORS).index(r[0]), roi_sort_key(r[1]), LABEL_KINDS.index(r[2]),
                       known_methods().index(r[3]), mask_sort_key(r[4])),
    )
    rows = []
    for ind, roi, labels, meth, mask in cells:
        pairs, n_failed, n_nonfinite, n_unpaired = paired_values(data, ind, meth, mask, comparator, roi, labels)
        st, reasons = pair_statistics(pairs["method"].to_numpy(), pairs["comparator"].to_numpy())
        excluded = [
            (n_unpaired, "unpaired subject", "unpaired subjects"),
            (n_failed, "QC-failed pair", "QC-failed pairs"),
            (n_nonfinite, "pair with a non-finite value", "pairs with non-finite values"),
        ]
        reasons[:0] = [f"{k} {one if k == 1 else many} excluded" for k, one, many in excluded if k]
        tol = tolerances.get(ind, math.nan)
        if not np.isfinite(tol):
            reasons.append(f"no tolerance for {ind}")
        verdict_, need, _ = verdict(st, len(pairs), tol)
        if not np.isfinite(st["bias"]):
            reasons.append("not computable: inconclusive")
        rows.append({
            "indicator": ind, "unit": unit(ind), "roi": roi, "labels": labels, "method": meth, "mask": mask,
            "comparator": comparator,
            "n": len(pairs), "n_qc_failed": n_failed, "n_nonfinite": n_nonfinite, "n_unpaired": n_unpaired,
            "splits": ";".join(sorted(set(pairs["split"].astype(str)))),
            "mean_comparator": float(pairs["comparator"].mean()) if len(pairs) else math.nan,
            "mean_method": float(pairs["method"].mean()) if len(pairs) else math.nan,
            **st, "tolerance": tol, "verdict": verdict_, "n_needed": need, "preserved": verdict_ == PRESERVED,
            "reason": "; ".join(reasons),
        })  # fmt: skip
    out = pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))
    return out.astype({"n": int, "n_qc_failed": int, "n_nonfinite": int, "n_unpaired": int, "preserved": bool})
