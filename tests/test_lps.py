"""Low-rank plus sparse (``lps``): singular value thresholding, temporal transforms, objective, phantom recovery."""

from __future__ import annotations

import numpy as np
import pytest
import sigpy as sp

from cardiomm.acquisition import Acquisition
from cardiomm.recon.classical.espirit import espirit_maps
from cardiomm.recon.classical.lps import (
    NuclearNormReg,
    TemporalDCT,
    TemporalFFT,
    lowrank_scale,
    lps_objective,
    lps_problem,
    lps_slice,
    lps_solve,
)
from cardiomm.recon.classical.problem import scaled_problem
from cardiomm.recon.classical.sense import sense_recon_series
from cardiomm.recon.classical.series import CSParams, recon_series
from cardiomm.recon.classical.zero_filled import zero_filled
from cardiomm.sampling.masks import acs_mask, make_mask, undersample
from tests.test_classical import NT, N, _psnr, _rng_complex, kspace  # noqa: F401 - kspace is a fixture

MASK = "ktGaussian8"


@pytest.fixture(scope="module")
def kt_case(kspace: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: F811
    """``(kus, mask, maps)`` of the dynamic phantom at 8x k-t Gaussian (ACS 16)."""
    mask = make_mask(MASK, NT, N, N, seed=3, acs=16)
    kus = undersample(kspace, mask)
    maps = espirit_maps(kus[:, 0], mask.astype(bool), acs_mask(MASK, N, N, acs=16), calib_width=16)
    return kus, mask, maps


# ------------------------------------------------------------------------------------------ proximal steps
def test_nuclear_norm_prox_is_singular_value_thresholding() -> None:
    rng = np.random.default_rng(0)
    x = _rng_complex(rng, (6, 5, 7))
    m = x.reshape(6, -1).astype(np.complex128)
    u, s, vh = np.linalg.svd(m, full_matrices=False)
    alpha = 2.0
    lam = s[3] / alpha  # the threshold alpha * lam is the 4th singular value: 3 survive, shrunk by it
    want = (u * np.maximum(s - alpha * lam, 0)) @ vh
    got = NuclearNormReg(x.shape, lam)(alpha, x)
    np.testing.assert_allclose(got.reshape(6, -1), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert got.dtype == np.complex64 and got.shape == x.shape
    assert np.linalg.matrix_rank(got.reshape(6, -1), tol=1e-3 * s[0]) == 3
    np.testing.assert_allclose(np.linalg.svd(got.reshape(6, -1), compute_uv=False)[:3], s[:3] - s[3], rtol=1e-4)
    # no threshold: identity; a threshold above the largest singular value: zero
    np.testing.assert_allclose(NuclearNormReg(x.shape, 0.0)(1.0, x), x, rtol=1e-5, atol=1e-5)
    assert np.abs(NuclearNormReg(x.shape, s[0] * 1.01)(1.0, x)).max() == 0


def test_nuclear_norm_prox_minimises_its_objective() -> None:
    rng = np.random.default_rng(1)
    v = _rng_complex(rng, (4, 3, 3)).astype(np.complex128)
    lam = 1.5
    p = NuclearNormReg(v.shape, lam)(1.0, v).astype(np.complex128)

    def f(x: np.ndarray) -> float:
        return 0.5 * np.linalg.norm(x - v) ** 2 + lam * np.linalg.svd(x.reshape(4, -1), compute_uv=False).sum()

    for _ in range(20):
        assert f(p) <= f(p + 0.05 * _rng_complex(rng, v.shape)) + 1e-6


@pytest.mark.parametrize("T", [TemporalFFT((5, 3, 4)), TemporalDCT((5, 3, 4))], ids=["fft", "dct"])
def test_temporal_transforms_are_unitary_and_adjoint(T: sp.linop.Linop) -> None:
    rng = np.random.default_rng(2)
    x, y = _rng_complex(rng, T.ishape), _rng_complex(rng, T.oshape)
    assert abs(np.vdot(T(x), y) - np.vdot(x, T.H(y))) <= 1e-4 * abs(np.vdot(T(x), y))
    np.testing.assert_allclose(np.linalg.norm(T(x)), np.linalg.norm(x), rtol=1e-5)
    np.testing.assert_allclose(T.H(T(x)), x, rtol=1e-4, atol=1e-5)
    # a constant series is one coefficient (the DC term) in either transform
    c = np.ones(T.ishape, np.complex64)
    assert np.count_nonzero(np.abs(T(c)) > 1e-5) == int(np.prod(T.ishape[1:]))


# ------------------------------------------------------------------------------------------ solver
def test_lps_objective_decreases(kt_case) -> None:
    kus, mask, maps = kt_case
    A, y, _ = scaled_problem(kus[:, 0], maps, mask.astype(bool))
    lam, lam_lr = 0.003, 0.01
    _, _, parts = lps_problem(A, y, lam, lam_lr, periodic=True)
    assert parts["lamda_nuclear"] == pytest.approx(lam_lr * lowrank_scale(A, y))
    start = lps_objective(A, y, np.asarray(A.H(y)), np.zeros(A.ishape, np.complex64), lam,
                          parts["lamda_nuclear"], parts["T"])
    runs = {}
    for acc in (False, True):
        objs: list[float] = []
        lps_solve(A, y, lam, lam_lr, 40, callback=lambda L, S, o=objs: o.append(
            lps_objective(A, y, L, S, lam, parts["lamda_nuclear"], parts["T"])), accelerate=acc)
        runs[acc] = np.array(objs)
    ista, fista = runs[False], runs[True]
    # proximal gradient with step 1/||E||^2 never increases the objective (float32 arithmetic: a tiny slack)
    assert ista[0] < start and np.all(np.diff(ista) <= 1e-5 * start), np.diff(ista).max()
    # FISTA (the method's solver) is not monotone but gets lower, and far below the start
    assert fista[-1] < ista[-1] and fista[-1] < 0.5 * start, (start, ista[-1], fista[-1])


def test_lps_beats_sense_on_kt_undersampling(kspace, kt_case) -> None:  # noqa: F811
    kus, mask, _ = kt_case
    ref = zero_filled(kspace)
    acq = Acquisition.from_arrays(kus, mask, MASK, 16)
    sense = _psnr(ref, sense_recon_series(acq))
    rec = recon_series("lps", acq, CSParams(lamda=0.003, max_iter=60, lamda_lowrank=0.01))
    assert rec.shape == ref.shape and rec.dtype == np.float32
    lps = _psnr(ref, rec)
    # measured: SENSE 27.8, lps 35.6 dB (zero-filled 24.2)
    assert lps > sense + 5.0, (sense, lps)
    gain = float(np.sum(rec * ref) / np.sum(ref**2))
    assert gain == pytest.approx(1.0, abs=0.05)  # on the reference's scale


def test_lps_mapping_kind_uses_its_own_weights_and_the_dct(kt_case) -> None:
    kus, mask, maps = kt_case
    p = CSParams(lamda=0.01, max_iter=8, lamda_mapping=0.002, lamda_lowrank=0.05, lamda_lowrank_mapping=0.004)
    assert (p.lamda_lowrank_for("mapping"), p.lamda_lowrank_for("cine")) == (0.004, 0.05)
    got = recon_series("lps", Acquisition.from_arrays(kus, mask, MASK, 16), p, kind="mapping")
    want = np.abs(lps_slice(kus[:, 0], maps, mask.astype(bool), 0.002, 0.004, 8, periodic=False))
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-5, atol=1e-6 * want.max())
    cine = np.abs(lps_slice(kus[:, 0], maps, mask.astype(bool), 0.002, 0.004, 8, periodic=True))
    assert not np.allclose(cine, want, rtol=1e-3)  # the transform differs


def test_lps_params_and_engine() -> None:
    p = CSParams.from_dict("lps", {"lamda": 0.002, "lamda_lowrank": 0.03, "lamda_lowrank_mapping": None})
    assert (p.lamda, p.lamda_lowrank, p.lamda_lowrank_mapping, p.max_iter) == (0.002, 0.03, None, 60)
    assert CSParams.from_dict("lps", None).lamda_lowrank == 0.01
    with pytest.raises(ValueError, match="config lps.engine: 'bart' is not one of .*no L\\+S equivalent"):
        CSParams.from_dict("lps", {"engine": "bart"})
    with pytest.raises(ValueError, match=r"config kttv: unknown keys \['lamda_lowrank'\]"):
        CSParams.from_dict("kttv", {"lamda_lowrank": 0.1})
    with pytest.raises(ValueError, match="config lps: weights must be >= 0"):
        CSParams.from_dict("lps", {"lamda_lowrank": -1})
    assert CSParams(0.01, 10).lamda_lowrank_for("cine") is None  # no low-rank part
