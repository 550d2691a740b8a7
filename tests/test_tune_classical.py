"""Tuning of the classical baselines: the choice rule, slice selection, validation-only guard, one real grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiomm.cohort import Subject
from cardiomm.recon.classical.series import CSParams
from cardiomm.recon.classical.tune import Case, central_slices, choose, config_lines, grid_search
from cardiomm.recon.classical.zero_filled import zero_filled
from cardiomm.sampling.masks import make_mask, undersample
from cardiomm.stages import tune as tune_stage


def test_choose_takes_the_best_mean_psnr_per_method_and_kind() -> None:
    rows = []
    for subj, off in (("A", 0.0), ("B", 1.0)):
        for lam, p in ((0.001, 20.0), (0.01, 22.0), (0.1, 21.0)):
            rows.append({"method": "kttv", "kind": "cine", "lamda": lam, "psnr": p + off, "ssim": 0.5, "subject": subj})
        for lam, p in ((0.001, 25.0), (0.01, 24.0)):
            rows.append({"method": "kttv", "kind": "mapping", "lamda": lam, "psnr": p + off, "ssim": 0.5,
                         "subject": subj})
    s = choose(pd.DataFrame(rows))
    chosen = s[s["chosen"]].set_index("kind")["lamda"].to_dict()
    assert chosen == {"cine": 0.01, "mapping": 0.001}
    assert s.loc[(s["kind"] == "cine") & (s["lamda"] == 0.01), "psnr"].item() == pytest.approx(22.5)
    assert (s["cases"] == 2).all()
    lines = config_lines(s, {"kttv": CSParams(0.02, 40)}, "snakemake tune_classical")
    assert "kttv: {lamda: 0.01, lamda_mapping: 0.001, max_iter: 40}" in lines
    with pytest.raises(ValueError, match="no validation cases"):
        choose(pd.DataFrame(columns=["method", "kind", "lamda", "psnr", "ssim"]))


def test_central_slices() -> None:
    assert central_slices(9, 1) == [4]
    assert central_slices(9, 3) == [3, 4, 5]
    assert central_slices(2, 5) == [0, 1]


def test_tuning_refuses_test_subjects(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only validation subjects.*P029"):
        tune_stage.tune_classical([Subject("P029", tmp_path, "test")], {},
                              {"slices": 1, "grid": {"kttv": [0.01]}}, {}, "x", *(str(tmp_path / f) for f in "abcd"))


def test_grid_search_scores_every_weight_and_prefers_regularising_a_noisy_slice() -> None:
    import torch

    from cardiomm.physics.fft import fft2c
    from tests.test_classical import NC, NT, N, coil_maps, dynamic_phantom

    k = fft2c(torch.from_numpy(coil_maps(NC, N)[None] * dynamic_phantom()[:, None])).numpy()[:, None]
    rng = np.random.default_rng(0)
    k = (k + 0.02 * np.abs(k).max() * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape)))
    k = k.astype(np.complex64)
    mask = make_mask("ktGaussian8", NT, N, N, seed=3, acs=20)
    case = Case("V", "cine", "ktGaussian8", 0, undersample(k, mask), mask, zero_filled(k))
    table = grid_search([case], {"kttv": [1e-5, 0.01]}, {"kttv": CSParams(0.01, 30)})
    assert list(table["lamda"]) == [1e-5, 0.01] and set(table["kind"]) == {"cine"}
    # noisy data at 8x: some temporal regularisation beats (almost) none
    assert table.loc[table["lamda"] == 0.01, "psnr"].item() > table.loc[table["lamda"] == 1e-5, "psnr"].item()
    with pytest.raises(ValueError, match="unknown method 'sense'"):
        grid_search([case], {"sense": [0.01]}, {})


def test_lps_grid_is_the_product_of_its_two_weights_and_its_pair_is_chosen() -> None:
    from cardiomm.recon.classical.tune import grid_points

    assert grid_points("lps", {"lamda": [1, 2], "lamda_lowrank": [3]}) == [(1.0, 3.0), (2.0, 3.0)]
    assert grid_points("kttv", [0.1]) == [(0.1, None)]
    with pytest.raises(ValueError, match="grid.lps: must be"):
        grid_points("lps", [0.01])
    with pytest.raises(ValueError, match="grid.cs: must be a list"):
        grid_points("cs", {"lamda": [0.01]})
    rows = [{"method": "lps", "kind": k, "lamda": a, "lamda_lowrank": b, "psnr": p, "ssim": 0.5}
            for k, a, b, p in (("cine", 0.001, 0.01, 30.0), ("cine", 0.003, 0.01, 31.0), ("cine", 0.003, 0.03, 29.0),
                               ("mapping", 0.001, 0.03, 28.0), ("mapping", 0.003, 0.01, 27.0))]
    rows.append({"method": "cs", "kind": "cine", "lamda": 0.001, "lamda_lowrank": np.nan, "psnr": 25.0, "ssim": 0.5})
    s = choose(pd.DataFrame(rows))
    ch = s[s["chosen"]]
    assert len(ch) == 3 and np.isnan(ch.loc[ch["method"] == "cs", "lamda_lowrank"].item())
    lines = config_lines(s, {"lps": CSParams(0.003, 60, lamda_lowrank=0.01), "cs": CSParams(0.005, 30)}, "x")
    assert ("lps: {lamda: 0.003, lamda_lowrank: 0.01, lamda_mapping: 0.001, lamda_lowrank_mapping: 0.03, "
            "max_iter: 60}") in lines
    assert "cs: {lamda: 0.001, max_iter: 30}" in lines


def test_grid_search_runs_lps() -> None:
    import torch

    from cardiomm.physics.fft import fft2c
    from tests.test_classical import NC, NT, N, coil_maps, dynamic_phantom

    k = fft2c(torch.from_numpy(coil_maps(NC, N)[None] * dynamic_phantom()[:, None])).numpy()[:, None]
    k = k.astype(np.complex64)
    mask = make_mask("ktGaussian8", NT, N, N, seed=3, acs=20)
    case = Case("V", "cine", "ktGaussian8", 0, undersample(k, mask), mask, zero_filled(k))
    table = grid_search([case], {"lps": {"lamda": [0.003], "lamda_lowrank": [0.01, 10.0]}},
                        {"lps": CSParams(0.003, 20, lamda_lowrank=0.01)})
    assert list(table["lamda_lowrank"]) == [0.01, 10.0] and (table["method"] == "lps").all()
    # a nuclear-norm weight 10x the largest singular value leaves no low-rank part (S alone): worse
    # (measured 35.9 vs 34.1 dB)
    assert table["psnr"].iloc[0] > table["psnr"].iloc[1] + 1.0, table["psnr"].tolist()
