"""Agreement statistics: hand-computed Bland-Altman, ICC(A,1) against the McGraw & Wong formulas,
degenerate cells, the exact LoA CI, the three-valued verdict and input validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats

from cardiomm.compare.agreement import (
    AGREEMENT_COLUMNS,
    INDICATOR_COLUMNS,
    agreement_table,
    bland_altman,
    icc_a1,
)
from cardiomm.compare.verdict import (
    INCONCLUSIVE,
    NOT_PRESERVED,
    PRESERVED,
    classify,
    loa_ci_factor,
    n_needed,
    verdict,
    verdict_name,
)
from cardiomm.conventions import unit


def _rows(method: str, mask: str, indicator: str, values, qc=None, subjects=None) -> list[tuple]:
    subjects = subjects or [f"P{i:03d}" for i in range(len(values))]
    qc = [True] * len(values) if qc is None else qc
    return [
        (s, "test", method, mask, indicator, unit(indicator), v, ok, "" if ok else "fit failed")
        for s, v, ok in zip(subjects, values, qc, strict=True)
    ]


def _table(*row_lists: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([r for rows in row_lists for r in rows], columns=list(INDICATOR_COLUMNS))


# Hand-computed example (paper and pencil, see comments).
METHOD = [10.0, 12.0, 14.0, 11.0, 13.0]
REF = [9.0, 12.0, 12.0, 12.0, 10.0]
# d = [1, 0, 2, -1, 3]; bias = 5/5 = 1; sum (d - 1)^2 = 0+1+1+4+4 = 10; sd = sqrt(10/4) = sqrt(2.5)
SD = math.sqrt(2.5)  # 1.5811388
T_975_4 = 2.776445  # t table, 0.975 quantile, 4 df
HAND = {
    "bias": 1.0,
    "sd": SD,
    "loa_low": 1.0 - 1.96 * SD,  # -2.0990321
    "loa_high": 1.0 + 1.96 * SD,  # 4.0990321
    "bias_ci_low": 1.0 - T_975_4 * SD / math.sqrt(5),  # -0.963243
    "bias_ci_high": 1.0 + T_975_4 * SD / math.sqrt(5),  # 2.963243
    # SE(LoA) = sqrt(sd^2 (1/n + 1.96^2 / (2 (n-1)))) = sqrt(2.5 * (0.2 + 3.8416 / 8)) = sqrt(1.70050)
    "loa_low_ci_low": 1.0 - 1.96 * SD - T_975_4 * math.sqrt(1.7005),
    "loa_low_ci_high": 1.0 - 1.96 * SD + T_975_4 * math.sqrt(1.7005),
    "loa_high_ci_low": 1.0 + 1.96 * SD - T_975_4 * math.sqrt(1.7005),
    "loa_high_ci_high": 1.0 + 1.96 * SD + T_975_4 * math.sqrt(1.7005),  # 7.719606
    "mad": 7.0 / 5.0,  # (1+0+2+1+3)/5
    "cov_pct": 100.0 * SD / 11.5,  # pair means 9.5, 12, 13, 11.5, 11.5 -> 11.5
}


def _hand_table() -> pd.DataFrame:
    return _table(_rows("reference", "full", "LVEDV", REF), _rows("cardiomm", "Uniform8", "LVEDV", METHOD))


def test_bland_altman_matches_hand_computation():
    got = bland_altman(np.array(METHOD), np.array(REF))
    for key in ("bias", "sd", "loa_low", "loa_high", "bias_ci_low", "bias_ci_high", "loa_low_ci_low",
                "loa_low_ci_high", "loa_high_ci_low", "loa_high_ci_high"):  # fmt: skip
        assert got[key] == pytest.approx(HAND[key], abs=2e-6), key
    assert got["loa_low"] == pytest.approx(-2.0990321, abs=1e-6)
    assert got["bias_ci_high"] == pytest.approx(2.963243, abs=1e-5)
    assert got["loa_high_ci_high"] == pytest.approx(7.719606, abs=1e-5)


def test_loa_ci_is_the_exact_bland_altman_1999_form_not_sqrt_3_over_n():
    import statistics

    # independent path: the standard library's mean / stdev and the formula written out by hand
    rng = np.random.default_rng(3)
    for n in (3, 4, 7, 25):
        d = rng.normal(2.0, 3.0, n)
        sd = statistics.stdev(d.tolist())
        t = stats.t.ppf(0.975, n - 1)
        want = statistics.fmean(d.tolist()) + 1.96 * sd + t * sd * math.sqrt(1 / n + 1.96**2 / (2 * (n - 1)))
        got = bland_altman(d, np.zeros(n))["loa_high_ci_high"]
        assert got == pytest.approx(want, rel=1e-12)
    # at n = 3 the old sqrt(3/n) shortcut is 12% too narrow (sqrt(1/3 + 3.8416/4) = 1.1374)
    assert loa_ci_factor(3) / math.sqrt(3 / 3) == pytest.approx(1.1374, abs=1e-4)
    # and the shortcut is the large-n limit with 1 + 1.96^2 / 2 = 2.92 rounded up to 3
    assert loa_ci_factor(10**6) / math.sqrt(3 / 10**6) == pytest.approx(math.sqrt(2.9208 / 3), abs=1e-4)


def test_agreement_table_row_matches_hand_computation():
    tab = agreement_table(_hand_table(), tolerances={"LVEDV": 5.0})
    assert list(tab.columns) == list(AGREEMENT_COLUMNS)
    assert len(tab) == 1
    row = tab.iloc[0]
    assert (row["indicator"], row["unit"], row["method"], row["mask"], row["comparator"]) == (
        "LVEDV", "mL", "cardiomm", "Uniform8", "reference",
    )  # fmt: skip
    assert row["n"] == 5
    for key, val in HAND.items():
        assert row[key] == pytest.approx(val, abs=2e-6), key
    assert row["pearson_r"] == pytest.approx(stats.pearsonr(METHOD, REF).statistic)
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(METHOD, REF).pvalue)
    # the point LoA [-2.10, 4.10] lies inside +/-5 but its CI reaches 7.72 at n = 5: not decided yet
    assert row["verdict"] == INCONCLUSIVE and not row["preserved"] and row["reason"] == ""
    assert row["n_needed"] == _n_needed_brute_force(1.0, SD, 5.0)


@pytest.mark.parametrize(
    ("tol", "expected"),
    # LoA = [-2.099, 4.099]; CIs of the lower limit [-5.720, 1.522], of the upper limit [0.479, 7.720];
    # bias CI [-0.963, 2.963]
    [
        (8.0, PRESERVED),  # both LoA CIs inside +/-8
        (7.7, INCONCLUSIVE),  # the upper LoA CI reaches 7.720
        (5.0, INCONCLUSIVE),
        (4.0, INCONCLUSIVE),  # the point limit 4.099 is outside, but its CI reaches down to 0.479: not shown
        (0.45, NOT_PRESERVED),  # the upper limit's whole CI [0.479, 7.720] lies above +0.45
    ],
)
def test_three_valued_verdict(tol, expected):
    row = agreement_table(_hand_table(), tolerances={"LVEDV": tol}).iloc[0]
    assert row["verdict"] == expected
    assert bool(row["preserved"]) == (expected == PRESERVED)
    assert np.isfinite(row["n_needed"]) == (expected == INCONCLUSIVE)


def test_hand_table_limit_cis():
    row = agreement_table(_hand_table(), tolerances={"LVEDV": 5.0}).iloc[0]
    assert row["loa_high_ci_low"] == pytest.approx(0.4785, abs=1e-4)
    assert row["loa_low_ci_high"] == pytest.approx(1.5216, abs=1e-4)


def _decided(bias: float, sd: float, tol: float, n: int) -> bool:
    """The rule written out by hand: preserved, or a limit's CI (or the bias CI) wholly outside the tolerance."""
    t = stats.t.ppf(0.975, n - 1)
    hw, hb = t * sd * math.sqrt(1 / n + 1.96**2 / (2 * (n - 1))), t * sd / math.sqrt(n)
    lo, hi = bias - 1.96 * sd, bias + 1.96 * sd
    preserved = lo - hw >= -tol and hi + hw <= tol
    excluded = hi - hw > tol or lo + hw < -tol or bias - hb > tol or bias + hb < -tol
    return preserved or excluded


def _n_needed_brute_force(bias: float, sd: float, tol: float) -> int:
    """Walk n = 3, 4, ... until the cell is decided either way at the same bias and SD."""
    n = 3
    while not _decided(bias, sd, tol, n):
        n += 1
    return n


@pytest.mark.parametrize(("bias", "sd", "tol"), [(1.0, SD, 5.0), (0.0, 1.0, 2.5), (-0.5, 2.0, 4.5), (0.2, 0.1, 1),
                                                 (0.0, 1.0, 1.8), (1.0, 1.0, 2.6), (-3.0, 0.5, 2.9)])
def test_n_needed_matches_brute_force(bias, sd, tol):
    need = n_needed(bias, sd, tol)
    assert need == _n_needed_brute_force(bias, sd, tol)
    # the decision it leads to is the side of the tolerance the point limits are on
    inside = abs(bias) + 1.96 * sd < tol
    st = {"bias": bias, "sd": sd}
    assert verdict(st, int(need), tol)[0] == (PRESERVED if inside else NOT_PRESERVED)
    if need > 3:  # one pair fewer is still inconclusive
        assert verdict(st, int(need) - 1, tol)[0] == INCONCLUSIVE


def test_n_needed_edges():
    assert n_needed(0.0, 1.0, 1.96) == math.inf  # a point LoA on the tolerance: no n decides it
    assert n_needed(0.0, 0.0, 1.0) == 3.0
    assert math.isnan(n_needed(float("nan"), 1.0, 1.0))
    # at n = 3 the CI half-width of a limit is 2.5 x the LoA half-width (t(2) = 4.303 x 1.1374 / 1.96), so an
    # unbiased method whose LoA is half the tolerance is still inconclusive
    d = np.array([-1.0, 0.0, 1.0])  # bias 0, sd 1
    st = bland_altman(d, np.zeros(3))
    assert (st["loa_high_ci_high"] - st["loa_high"]) / 1.96 == pytest.approx(2.497, abs=1e-3)
    assert verdict(st, 3, 4.0)[0] == INCONCLUSIVE
    assert verdict(st, 3, 1.96 + 4.9)[0] == PRESERVED
    # and symmetrically a method whose point limit is twice the tolerance is not yet shown to lose it
    assert verdict(st, 3, 0.98)[0] == INCONCLUSIVE
    assert verdict(st, 3, 0.1)[0] == INCONCLUSIVE  # upper LoA CI [-2.93, 6.85] still reaches inside +/-0.1


def test_bias_ci_outside_tolerance_is_not_preserved():
    # d = [4, 5, 6]: bias 5, sd 1, n 3; t(2) = 4.3027: bias CI 5 -/+ 2.484 = [2.516, 7.484]; the upper limit 6.96
    # has the CI [2.066, 11.854], which reaches inside +/-2.3, so only the bias criterion decides here
    st = bland_altman(np.array([4.0, 5.0, 6.0]), np.zeros(3))
    assert st["bias_ci_low"] == pytest.approx(2.5159, abs=1e-4)
    assert st["loa_high_ci_low"] == pytest.approx(2.0661, abs=1e-4)
    v, need, why = verdict(st, 3, 2.3)
    assert v == NOT_PRESERVED and "bias" in why and math.isnan(need)
    assert verdict(st, 3, 2.6)[0] == INCONCLUSIVE  # 2.516 < 2.6: the bias CI reaches inside
    st0 = {"bias": 5.0, "sd": 0.0}
    assert verdict(st0, 5, 4.0)[0] == NOT_PRESERVED
    assert verdict(st0, 5, float("nan"))[0] == INCONCLUSIVE


def _simulated_verdicts(n: int, true_limit: float, bias: float, reps: int, seed: int) -> dict[str, float]:
    """Fractions of each verdict over ``reps`` simulated cells of ``n`` normal differences (tolerance 1) whose true
    upper limit |bias| + 1.96 sigma is ``true_limit``: the rule vectorised (:func:`classify`, which
    :func:`verdict` applies), checked against the table code on the first 100 cells."""
    rng = np.random.default_rng(seed)
    sigma = (true_limit - abs(bias)) / 1.96
    d = bias + sigma * rng.standard_normal((reps, n))
    codes = classify(d.mean(axis=1), d.std(axis=1, ddof=1), n, 1.0)
    for row, code in zip(d[:100], codes[:100], strict=True):
        assert verdict(bland_altman(row, np.zeros(n)), n, 1.0)[0] == verdict_name(code)
    return {verdict_name(c): float(np.mean(codes == c)) for c in (0, 1, 2)}


def _powered_n() -> int:
    import json
    from pathlib import Path

    schema = json.loads((Path(__file__).resolve().parents[1] / "cardiomm/schema/config.schema.json").read_text())
    return int(schema["properties"]["agreement"]["properties"]["powered_n"]["default"])


@pytest.mark.parametrize("n", [3, 8, _powered_n()])  # the default run's n, a small cohort's, the powered audit's
@pytest.mark.parametrize("bias", [0.0, 0.3])
def test_verdict_error_rates_by_simulation(n, bias):
    """P(not preserved) <= 5% when the true limit is 0.8x the tolerance, P(preserved) <= 5% when it is 1.5x
    (seeded, 20,000 cells each: a rate's standard error is below 0.16 points; the rule's rates are about 0.0%
    and 0-2.5%, far inside the bounds)."""
    ok = _simulated_verdicts(n, 0.8, bias, 20_000, seed=n)
    bad = _simulated_verdicts(n, 1.5, bias, 20_000, seed=100 + n)
    assert ok[NOT_PRESERVED] <= 0.05, ok
    assert bad[PRESERVED] <= 0.05, bad
    if n >= 20:  # and the rule does decide where the data allow it (at n = 20: about 49% and 98%)
        assert bad[NOT_PRESERVED] >= 0.4, bad
        assert _simulated_verdicts(n, 0.5, bias, 20_000, seed=200 + n)[PRESERVED] >= 0.95


def _icc_a1_mcgraw_wong(x: np.ndarray) -> tuple[float, float, float]:
    """ICC(A,1) and its 95% CI from two-way ANOVA mean squares (McGraw & Wong 1996, case 2A).

    x: (n subjects, k raters).
    """
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    icc = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    f_lo, f_hi = stats.f.ppf(0.975, n - 1, v), stats.f.ppf(0.975, v, n - 1)
    low = n * (msr - f_lo * mse) / (f_lo * (k * msc + (k * n - k - n) * mse) + n * msr)
    high = n * (f_hi * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_hi * msr)
    return icc, low, high


def test_icc_matches_mcgraw_wong_formula_and_pingouin_is_restored():
    rng = np.random.default_rng(7)
    ref = rng.normal(100, 15, size=12)
    meth = ref + 5.0 + np.tile([4.0, -4.0], 6)  # bias exactly 5, so absolute agreement < consistency
    before = dict(pingouin.options)
    icc, lo, hi = icc_a1(meth, ref)
    assert dict(pingouin.options) == before  # our full-precision context leaves pingouin's options alone
    want = _icc_a1_mcgraw_wong(np.c_[meth, ref])
    assert icc == pytest.approx(want[0], rel=1e-9)
    assert lo == pytest.approx(want[1], rel=1e-6)  # not rounded to 2 decimals
    assert hi == pytest.approx(want[2], rel=1e-6)
    assert lo < icc < hi
    # the row we picked penalises bias: consistency ICC(C,1) = (MSR - MSE) / (MSR + MSE) is larger
    n, k = 12, 2
    x = np.c_[meth, ref]
    ss_r = k * ((x.mean(1) - x.mean()) ** 2).sum()
    ss_c = n * ((x.mean(0) - x.mean()) ** 2).sum()
    mse = (((x - x.mean()) ** 2).sum() - ss_r - ss_c) / (n - 1)
    msr = ss_r / (n - 1)
    assert (msr - mse) / (msr + mse) > icc
    tab = agreement_table(_table(_rows("reference", "full", "T1", ref), _rows("sense", "ktRadial24", "T1", meth)))
    assert tab.iloc[0]["icc"] == pytest.approx(want[0], rel=1e-9)
    assert tab.iloc[0]["icc_ci_low"] == pytest.approx(want[1], rel=1e-6)


def test_fewer_than_three_pairs_gives_reason_not_exception():
    df = _table(_rows("reference", "full", "LVEF", [55.0, 60.0]), _rows("varnet", "ktGaussian16", "LVEF", [54, 61.0]))
    row = agreement_table(df).iloc[0]
    assert row["n"] == 2
    assert all(np.isnan(row[c]) for c in ("bias", "sd", "loa_low", "icc", "pearson_r", "wilcoxon_p", "cov_pct"))
    assert "n<3" in row["reason"] and "not computable" in row["reason"]
    assert not row["preserved"] and row["verdict"] == INCONCLUSIVE and np.isnan(row["n_needed"])


def test_all_equal_values_icc_undefined_but_agreement_perfect():
    df = _table(_rows("reference", "full", "T2", [50.0] * 4), _rows("cardiomm", "Uniform8", "T2", [50.0] * 4))
    row = agreement_table(df).iloc[0]
    assert row["bias"] == 0 and row["sd"] == 0 and row["loa_low"] == 0 and row["loa_high"] == 0
    assert np.isnan(row["icc"]) and np.isnan(row["wilcoxon_p"]) and np.isnan(row["pearson_r"])
    assert "zero variance: ICC undefined" in row["reason"]
    assert "all differences zero" in row["reason"]
    assert row["preserved"]  # identical values agree perfectly even though ICC is undefined


def test_constant_offset_does_not_crash():
    ref = [40.0, 50.0, 60.0, 70.0]
    df = _table(_rows("reference", "full", "T1rho", ref), _rows("sense", "Uniform8", "T1rho", [v + 2 for v in ref]))
    row = agreement_table(df).iloc[0]
    assert row["bias"] == pytest.approx(2.0) and row["sd"] == pytest.approx(0.0, abs=1e-12)
    assert row["pearson_r"] == pytest.approx(1.0)
    assert np.isfinite(row["icc"]) and row["icc"] < 1.0  # absolute agreement is penalised by the offset
    assert row["preserved"]  # |bias| 2 <= 4 ms default tolerance, LoA = bias


def test_qc_failed_and_nonfinite_pairs_are_excluded_with_reason():
    ref = [100.0, 110.0, 120.0, 130.0, 140.0, 150.0]
    meth = [101.0, 109.0, 122.0, np.nan, 999.0, 151.0]
    qc_m = [True, True, True, True, False, True]  # NaN with qc True is excluded as well
    qc_r = [True, True, True, True, True, False]
    df = _table(_rows("reference", "full", "LVM", ref, qc_r), _rows("varnet", "ktRadial24", "LVM", meth, qc_m))
    row = agreement_table(df).iloc[0]
    assert row["n"] == 3
    assert "2 QC-failed pairs excluded" in row["reason"]
    assert "1 pair with a non-finite value excluded" in row["reason"]
    assert (row["n_qc_failed"], row["n_nonfinite"]) == (2, 1)
    assert row["bias"] == pytest.approx(np.mean([1.0, -1.0, 2.0]))


def test_all_qc_failed():
    df = _table(
        _rows("reference", "full", "WT", [8.0, 9.0, 10.0]),
        _rows("zerofilled", "ktRadial24", "WT", [np.nan] * 3, [False] * 3),
    )
    row = agreement_table(df).iloc[0]
    assert row["n"] == 0 and not row["preserved"] and np.isnan(row["bias"])
    assert "3 QC-failed pairs excluded" in row["reason"] and "n<3" in row["reason"]


def test_unpaired_subjects_reported():
    df = _table(
        _rows("reference", "full", "RVEF", [50.0, 52, 55, 58], subjects=["A", "B", "C", "D"]),
        _rows("sense", "ktGaussian16", "RVEF", [51.0, 52, 54, 60], subjects=["A", "B", "C", "E"]),
    )
    row = agreement_table(df).iloc[0]
    assert row["n"] == 3
    assert "2 unpaired subjects excluded" in row["reason"]


def test_comparators_and_self_comparison():
    truth = [150.0, 160.0, 170.0, 180.0]
    ref = [151.0, 159.0, 171.0, 181.0]
    meth = [152.0, 161.0, 168.0, 183.0]
    df = _table(
        _rows("truth", "full", "RVEDV", truth),
        _rows("reference", "full", "RVEDV", ref),
        _rows("cardiomm", "ktRadial24", "RVEDV", meth),
    )
    vs_ref = agreement_table(df)
    assert list(vs_ref["method"]) == ["cardiomm"]  # neither the reference itself nor the truth
    vs_truth = agreement_table(df, comparator="truth")
    assert list(vs_truth["method"]) == ["reference", "cardiomm"]
    assert (vs_truth["comparator"] == "truth").all()
    assert vs_truth.iloc[0]["mask"] == "full"
    assert vs_truth.iloc[0]["bias"] == pytest.approx(np.mean(np.subtract(ref, truth)))
    assert vs_truth.iloc[1]["bias"] == pytest.approx(np.mean(np.subtract(meth, truth)))


def test_csv_round_trip_with_string_qc(tmp_path):
    df = _hand_table()
    df.loc[0, "qc_pass"] = False
    path = tmp_path / "phenotypes.csv"
    df.to_csv(path, index=False)
    back = pd.read_csv(path, dtype={"qc_pass": str})
    a, b = agreement_table(df), agreement_table(back)
    assert b.iloc[0]["n"] == 4
    pd.testing.assert_frame_equal(a, b)


def test_output_order_and_default_tolerances():
    rows = []
    for ind in ("T1", "LVEDV"):
        rows += _rows("reference", "full", ind, [1000.0, 1010, 990, 1005])
        for mask in ("ktRadial24", "Uniform8"):
            for meth in ("cardiomm", "zerofilled"):
                rows += _rows(meth, mask, ind, [1001.0, 1012, 991, 1003])
    tab = agreement_table(_table(rows))
    assert list(tab["indicator"]) == ["LVEDV"] * 4 + ["T1"] * 4
    assert list(tab["method"][:4]) == ["zerofilled", "zerofilled", "cardiomm", "cardiomm"]
    assert list(tab["mask"][:2]) == ["Uniform8", "ktRadial24"]
    assert tab.set_index("indicator")["tolerance"].to_dict() == {"LVEDV": 12.0, "T1": 50.0}


def test_missing_tolerance_means_not_preserved():
    tab = agreement_table(_hand_table(), tolerances={"LVEF": 5.0})
    assert np.isnan(tab.iloc[0]["tolerance"]) and not tab.iloc[0]["preserved"]
    assert "no tolerance for LVEDV" in tab.iloc[0]["reason"]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.drop(columns="qc_pass"), "missing columns"),
        (lambda d: d.assign(indicator="LVXX"), "unknown indicators"),
        (lambda d: d.assign(unit="L"), "has unit"),
        (lambda d: d.assign(method=d["method"].replace("cardiomm", "unet")), "unknown methods"),
        (lambda d: d.assign(mask=d["mask"].replace("Uniform8", "Uniform99")), "R=99"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "duplicated rows"),
        (lambda d: d.assign(qc_pass="maybe"), "qc_pass"),
        (lambda d: d[d["method"] != "reference"], "no rows with method='reference'"),
    ],
)
def test_bad_input_raises_clear_errors(mutate, match):
    with pytest.raises(ValueError, match=match):
        agreement_table(mutate(_hand_table()))


def test_bad_comparator_and_tolerances():
    with pytest.raises(ValueError, match="comparator must be one of"):
        agreement_table(_hand_table(), comparator="sense")
    with pytest.raises(ValueError, match="positive"):
        agreement_table(_hand_table(), tolerances={"LVEDV": -1.0})
    with pytest.raises(ValueError, match="unknown indicators"):
        agreement_table(_hand_table(), tolerances={"EF": 5.0})
    with pytest.raises(ValueError, match="no rows with method='truth'"):
        agreement_table(_hand_table(), comparator="truth")


def _roi_rows(method: str, mask: str, roi: str, labels: str, values) -> list[dict]:
    return [{"subject": f"P{i}", "split": "test", "method": method, "mask": mask, "indicator": "T1", "unit": "ms",
             "value": v, "qc_pass": True, "qc_reason": "", "roi": roi, "labels": labels}
            for i, v in enumerate(values)]


def test_cells_by_roi_and_labels_pair_with_the_comparators_own_rows(tmp_path):
    ref = {"consensus": [1000.0, 1010, 1020, 1030], "global": [990.0, 1000, 1010, 1020],
           "AHA1": [980.0, 985, 990, 1000]}
    rows = []
    for roi, vals in ref.items():
        rows += _roi_rows("reference", "full", roi, "own", vals)
        rows += _roi_rows("sense", "Uniform8", roi, "own", [v + 10 for v in vals])  # end to end: +10 ms
        rows += _roi_rows("sense", "Uniform8", roi, "reference", [v + 2 for v in vals])  # recon only: +2 ms
    bio = pd.DataFrame(rows)
    phen = _table(_rows("reference", "full", "LVEF", [55.0, 60, 50, 58]), _rows("sense", "Uniform8", "LVEF",
                                                                                  [56.0, 61, 51, 59]))
    both = pd.concat([phen, bio], ignore_index=True)  # phenotypes have no roi/labels columns: NaN after concat
    path = tmp_path / "both.csv"
    both.to_csv(path, index=False)  # a CSV round trip turns the empty roi into NaN too
    tab = agreement_table(pd.read_csv(path))
    assert list(zip(tab["indicator"], tab["roi"], tab["labels"], strict=True)) == [
        ("LVEF", "", "own"), ("T1", "consensus", "own"), ("T1", "consensus", "reference"), ("T1", "global", "own"),
        ("T1", "global", "reference"), ("T1", "AHA1", "own"), ("T1", "AHA1", "reference")]
    t1 = tab[tab["indicator"] == "T1"].set_index(["roi", "labels"])
    assert list(t1.xs("own", level="labels")["bias"]) == pytest.approx([10.0] * 3)
    assert list(t1.xs("reference", level="labels")["bias"]) == pytest.approx([2.0] * 3)
    assert (tab["n"] == 4).all() and not tab["reason"].str.contains("unpaired").any()
    # the headline rows: consensus ROI (or no ROI), own labels
    from cardiomm.compare.agreement import headline

    head = headline(tab)
    assert list(zip(head["indicator"], head["roi"], strict=True)) == [("LVEF", ""), ("T1", "consensus")]
    with pytest.raises(ValueError, match="labels"):
        agreement_table(bio.assign(labels="theirs"))
    with pytest.raises(ValueError, match="duplicated rows .* roi=global"):
        agreement_table(pd.concat([bio, bio[bio["roi"] == "global"].iloc[:1]]))
