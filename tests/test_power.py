"""The audit power table: n needed per indicator from the LoA CI formula of cardiomm.compare.verdict."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cardiomm.compare.power import decision_probability, n_for_power, power_markdown, power_table, sd_resolvable
from cardiomm.compare.verdict import LOA_Z, NOT_PRESERVED, PRESERVED, loa_ci_half_width, n_needed, verdict


def _rows():
    return pd.DataFrame([
        {"indicator": "LVEDV", "comparator": "reference", "method": "sense", "mask": "Uniform8", "n": 9,
         "bias": 0.0, "sd": 2.0},
        {"indicator": "LVEDV", "comparator": "reference", "method": "cardiomm", "mask": "Uniform8", "n": 9,
         "bias": 1.0, "sd": 4.0},
        {"indicator": "T1", "comparator": "reference", "method": "sense", "mask": "Uniform8", "n": 9,
         "bias": 0.0, "sd": 30.0},  # point LoA (58.8) outside a 40 ms tolerance: shown not preserved at n = 32
        {"indicator": "T2", "comparator": "reference", "method": "sense", "mask": "Uniform8", "n": 9,
         "bias": 0.0, "sd": 1.0},  # point LoA 1.96 exactly on the tolerance: never decided
    ])


def test_sd_resolvable_is_the_boundary_of_the_criterion():
    tol, n = 10.0, 50
    sd = sd_resolvable(n, tol)
    assert LOA_Z * sd + loa_ci_half_width(sd, n) == pytest.approx(tol)
    assert n_needed(0.0, sd * 0.999, tol) <= n < n_needed(0.0, sd * 1.01, tol)
    assert math.isnan(sd_resolvable(2, tol))


def test_power_table_reuses_n_needed_per_cell():
    t = power_table(_rows(), {"LVEDV": 12.0, "T1": 40.0, "T2": 1.96}).set_index("indicator")
    assert t.loc["LVEDV", "n_needed_best"] == n_needed(0.0, 2.0, 12.0)
    assert t.loc["LVEDV", "n_needed_median"] == pytest.approx(np.median([n_needed(0, 2, 12), n_needed(1, 4, 12)]))
    assert t.loc["LVEDV", "decidable_at_n"] == sum(n_needed(b, s, 12.0) <= 9 for b, s in ((0, 2), (1, 4)))
    assert t.loc["T1", "n_needed_best"] == n_needed(0.0, 30.0, 40.0) == 32
    assert t.loc["T2", "n_needed_best"] == math.inf
    assert t.loc["LVEDV", "n"] == 9 and t.loc["LVEDV", "cells"] == 2
    md = "\n".join(power_markdown(_rows(), {"LVEDV": 12.0, "T1": 40.0, "T2": 1.96}))
    assert "| reference | T1 |" in md and "never" in md


def test_decision_probability_matches_a_brute_force_simulation_of_whole_cohorts():
    bias, sd, tol, n = 0.5, 2.0, 6.0, 12
    p_ok, p_bad = decision_probability(bias, sd, n, tol, draws=40_000, seed=3)
    rng = np.random.default_rng(5)
    got = [verdict({"bias": d.mean(), "sd": d.std(ddof=1)}, n, tol)[0]
           for d in bias + sd * rng.standard_normal((800, n))]
    # two independent estimates of the same probability: within 4 standard errors of their difference
    for p, want in ((p_ok, PRESERVED), (p_bad, NOT_PRESERVED)):
        q = np.mean([g == want for g in got])
        assert abs(float(p) - q) < 4 * math.sqrt(q * (1 - q) / 800 + 1e-6) + 1e-3, (want, p, q)
    assert 0.2 < float(p_ok) < 0.9  # a case where neither outcome is certain


def test_decision_probability_edges_and_seed():
    assert decision_probability(0.0, 0.0, 5, 1.0) == (1.0, 0.0)  # no scatter, no bias: always shown preserved
    assert decision_probability(2.0, 0.0, 5, 1.0) == (0.0, 1.0)
    assert decision_probability(0.0, 1.0, 2, 5.0) == (0.0, 0.0)  # fewer than 3 pairs: never decided
    a = decision_probability(0.0, 1.0, [5, 10], 4.0, seed=1)
    b = decision_probability(0.0, 1.0, [5, 10], 4.0, seed=1)
    assert np.array_equal(a[0], b[0]) and a[0].shape == (2,)


def test_n_for_power_is_the_first_n_that_reaches_the_power():
    bias, sd, tol = 0.0, 1.0, 3.0
    n = n_for_power(bias, sd, tol, power=0.8)
    p_ok, p_bad = decision_probability(bias, sd, [n - 1, n], tol)
    assert p_ok[1] + p_bad[1] >= 0.8 > p_ok[0] + p_bad[0]
    # deciding with 80% probability takes more subjects than the n at which the observed cell would be decided
    assert n > n_needed(bias, sd, tol)
    assert n_for_power(0.0, 1.0, 1.96, n_max=60) == math.inf  # a true limit on the tolerance: never
    assert math.isnan(n_for_power(math.nan, 1.0, 1.0))
