"""The audit power table: n needed per indicator from the LoA CI formula of cardiomm.compare.verdict."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cardiomm.compare.power import power_markdown, power_table, sd_resolvable
from cardiomm.compare.verdict import LOA_Z, loa_ci_half_width, n_needed


def _rows():
    return pd.DataFrame([
        {"indicator": "LVEDV", "comparator": "reference", "method": "sense", "mask": "Uniform8", "n": 9,
         "bias": 0.0, "sd": 2.0},
        {"indicator": "LVEDV", "comparator": "reference", "method": "cardiomm", "mask": "Uniform8", "n": 9,
         "bias": 1.0, "sd": 4.0},
        {"indicator": "T1", "comparator": "reference", "method": "sense", "mask": "Uniform8", "n": 9,
         "bias": 0.0, "sd": 30.0},  # point LoA (58.8) outside a 40 ms tolerance: never
    ])


def test_sd_resolvable_is_the_boundary_of_the_criterion():
    tol, n = 10.0, 50
    sd = sd_resolvable(n, tol)
    assert LOA_Z * sd + loa_ci_half_width(sd, n) == pytest.approx(tol)
    assert n_needed(0.0, sd * 0.999, tol) <= n < n_needed(0.0, sd * 1.01, tol)
    assert math.isnan(sd_resolvable(2, tol))


def test_power_table_reuses_n_needed_per_cell():
    t = power_table(_rows(), {"LVEDV": 12.0, "T1": 40.0}).set_index("indicator")
    assert t.loc["LVEDV", "n_needed_best"] == n_needed(0.0, 2.0, 12.0)
    assert t.loc["LVEDV", "n_needed_median"] == pytest.approx(np.median([n_needed(0, 2, 12), n_needed(1, 4, 12)]))
    assert t.loc["LVEDV", "decidable_at_n"] == sum(n_needed(b, s, 12.0) <= 9 for b, s in ((0, 2), (1, 4)))
    assert t.loc["T1", "n_needed_best"] == math.inf
    assert t.loc["LVEDV", "n"] == 9 and t.loc["LVEDV", "cells"] == 2
    md = "\n".join(power_markdown(_rows(), {"LVEDV": 12.0, "T1": 40.0}))
    assert "| reference | T1 |" in md and "never" in md
