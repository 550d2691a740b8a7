"""Pixel-wise T1 (MOLLI), T2 and T1rho fits and myocardial summaries on synthetic series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cardiomm.io.nifti import Geometry
from cardiomm.quantify.mapping import (
    PLAUSIBLE_RANGE_MS,
    fit_molli,
    fit_monoexp,
    map_series,
)

# MOLLI 5(3)3: two Look-Locker sets, in acquisition order (not sorted): 5 images from 100 ms, 3 from 180 ms.
MOLLI_TI = np.array([100.0, 900.0, 1700.0, 2500.0, 3300.0, 180.0, 980.0, 1780.0])
T2_PREP = np.array([0.0, 35.0, 55.0])
SPIN_LOCK = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
GEOM = Geometry(1.4, 1.4, 8.0, 0.0)


def molli_signal(t1: np.ndarray, ti: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude Look-Locker signal ``|A - B exp(-TI / T1*)|`` with ``T1 = T1* (B / A - 1)``; returns (images, T1)."""
    ratio = rng.uniform(0.6, 0.9, t1.shape)  # T1* / T1: readout-shortened apparent T1
    t1star = t1 * ratio
    a = rng.uniform(200.0, 1000.0, t1.shape)
    b = a * (1.0 + t1 / t1star)  # perfect inversion: B = A + M0 with M0 = A T1 / T1*
    signal = a[None] - b[None] * np.exp(-ti.reshape((-1,) + (1,) * t1.ndim) / t1star[None])
    return np.abs(signal), t1star * (b / a - 1.0)


def monoexp_signal(t: np.ndarray, tau: np.ndarray, m0: np.ndarray) -> np.ndarray:
    return m0[None] * np.exp(-t.reshape((-1,) + (1,) * tau.ndim) / tau[None])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_molli_noiseless_recovers_t1_within_1_percent(rng: np.random.Generator) -> None:
    t1 = rng.uniform(600.0, 2000.0, (40, 50))
    images, t1_true = molli_signal(t1, MOLLI_TI, rng)
    fit = fit_molli(images, MOLLI_TI)
    assert set(fit) >= {"T1", "A", "B", "T1star", "residual", "valid"}
    assert fit["T1"].shape == t1.shape and fit["valid"].all() and fit["n_invalid"] == 0
    assert np.max(np.abs(fit["T1"] / t1_true - 1.0)) < 0.01
    # Polarity restoration: the number of negated samples is the number of TIs before the null point.
    null = fit["T1star"] * np.log(fit["B"] / fit["A"])
    assert np.array_equal(fit["n_flipped"], (np.sort(MOLLI_TI)[:, None, None] < null[None]).sum(0))
    assert np.all(fit["residual"] < 1e-6 * fit["A"])


def test_molli_with_noise_is_close_and_unbiased(rng: np.random.Generator) -> None:
    t1 = rng.uniform(800.0, 1500.0, 3000)
    images, t1_true = molli_signal(t1, MOLLI_TI, rng)
    noisy = np.abs(images + rng.normal(0.0, 10.0, images.shape))  # SNR ~ 20..100 on magnitude data
    fit = fit_molli(noisy, MOLLI_TI)
    err = fit["T1"][fit["valid"]] / t1_true[fit["valid"]] - 1.0
    assert fit["valid"].mean() > 0.95
    assert abs(np.median(err)) < 0.02 and np.median(np.abs(err)) < 0.10


def test_molli_three_images_is_enough(rng: np.random.Generator) -> None:
    ti = np.array([150.0, 1200.0, 3000.0])
    images, t1_true = molli_signal(np.array([1000.0]), ti, rng)
    fit = fit_molli(images, ti)
    assert fit["T1"].shape == (1,) and np.isfinite(fit["T1"][0])


@pytest.mark.parametrize("times", [T2_PREP, SPIN_LOCK], ids=["T2", "T1rho"])
def test_monoexp_noiseless_within_1_percent(times: np.ndarray, rng: np.random.Generator) -> None:
    tau = rng.uniform(25.0, 120.0, (30, 40))
    m0 = rng.uniform(100.0, 1000.0, tau.shape)
    fit = fit_monoexp(monoexp_signal(times, tau, m0), times)
    assert fit["valid"].all() and fit["n_invalid"] == 0
    assert np.max(np.abs(fit["T"] / tau - 1.0)) < 0.01
    assert np.max(np.abs(fit["M0"] / m0 - 1.0)) < 0.01


def test_monoexp_time_order_does_not_matter(rng: np.random.Generator) -> None:
    tau, m0 = rng.uniform(30.0, 80.0, 50), rng.uniform(100.0, 200.0, 50)
    images = monoexp_signal(SPIN_LOCK, tau, m0)
    perm = np.array([3, 0, 4, 1, 2])
    assert np.allclose(fit_monoexp(images[perm], SPIN_LOCK[perm])["T"], tau, rtol=1e-6)


@pytest.mark.parametrize("times", [T2_PREP, SPIN_LOCK], ids=["T2", "T1rho"])
def test_monoexp_with_noise_within_10_percent(times: np.ndarray, rng: np.random.Generator) -> None:
    tau = rng.uniform(35.0, 60.0, 3000)
    m0 = np.full_like(tau, 500.0)
    noisy = np.abs(monoexp_signal(times, tau, m0) + rng.normal(0.0, 5.0, (times.size, tau.size)))
    fit = fit_monoexp(noisy, times)
    err = fit["T"][fit["valid"]] / tau[fit["valid"]] - 1.0
    assert fit["valid"].mean() > 0.95
    assert abs(np.median(err)) < 0.03 and np.median(np.abs(err)) < 0.10


def test_implausible_values_are_masked_and_counted() -> None:
    tau = np.array([[2.0, 45.0, 500.0, 50.0]])  # too short, fine, too long, fine
    images = monoexp_signal(SPIN_LOCK, tau, np.full_like(tau, 300.0))
    images[:, 0, 3] = 0.0  # no signal at all: a failed fit
    fit = fit_monoexp(images, SPIN_LOCK)
    assert fit["valid"].tolist() == [[False, True, False, False]] and fit["n_invalid"] == 3
    t1 = np.array([50.0, 1000.0, 5000.0])
    rng = np.random.default_rng(0)
    mol, _ = molli_signal(t1, MOLLI_TI, rng)
    fit = fit_molli(mol, MOLLI_TI)
    assert fit["valid"].tolist() == [False, True, False] and fit["n_invalid"] == 2
    assert PLAUSIBLE_RANGE_MS == {"T1": (100.0, 3000.0), "T2": (5.0, 300.0), "T1rho": (5.0, 300.0)}


def test_mask_limits_the_fit(rng: np.random.Generator) -> None:
    tau = rng.uniform(30.0, 80.0, (8, 9))
    mask = np.zeros(tau.shape, dtype=bool)
    mask[2:5, 3:7] = True
    fit = fit_monoexp(monoexp_signal(T2_PREP, tau, np.full_like(tau, 100.0)), T2_PREP, mask)
    assert fit["n_fitted"] == 12 and np.all(np.isnan(fit["T"][~mask])) and not fit["valid"][~mask].any()
    assert np.allclose(fit["T"][mask], tau[mask], rtol=1e-3)


def series(rng: np.random.Generator, nz: int = 3, ny: int = 24, nx: int = 26) -> tuple:
    """A T1 mapping series with per-slice TIs (each slice's TIs shifted by 20 ms) and a known T1 map."""
    t1 = rng.uniform(900.0, 1400.0, (nz, ny, nx))
    times = np.stack([MOLLI_TI + 20.0 * z for z in range(nz)])
    images, truth = np.empty((MOLLI_TI.size, nz, ny, nx)), np.empty_like(t1)
    for z in range(nz):
        images[:, z], truth[z] = molli_signal(t1[z], times[z], rng)
    return images, times, truth


def test_map_series_uses_per_slice_timings(rng: np.random.Generator) -> None:
    images, times, truth = series(rng)
    value, valid = map_series(images, times, "T1")
    assert value.shape == valid.shape == truth.shape and valid.all()
    assert np.max(np.abs(value / truth - 1.0)) < 0.01
    wrong, _ = map_series(images, times[0], "T1")  # slice 0's timings everywhere: the other slices drift
    assert np.max(np.abs(wrong[2] / truth[2] - 1.0)) > 0.01


def test_map_series_mono_and_nan_where_invalid(rng: np.random.Generator) -> None:
    tau = rng.uniform(30.0, 60.0, (2, 10, 12))
    tau[0, 0, 0] = 1000.0
    images = monoexp_signal(SPIN_LOCK, tau, np.full_like(tau, 200.0))
    mask = np.ones(tau.shape, dtype=bool)
    mask[1, :2] = False
    value, valid = map_series(images, np.tile(SPIN_LOCK, (2, 1)), "T1rho", mask)
    assert not valid[0, 0, 0] and math.isnan(value[0, 0, 0])
    assert np.all(np.isnan(value[~mask])) and not valid[~mask].any()
    ok = valid & mask
    assert np.allclose(value[ok], tau[ok], rtol=1e-3)
    mask[1] = False  # a slice without any pixel to fit
    for biomarker, times in (("T1rho", SPIN_LOCK), ("T1", MOLLI_TI[:5])):
        value, valid = map_series(images, times, biomarker, mask)
        assert not valid[1].any() and np.all(np.isnan(value[1]))


def test_map_series_errors(rng: np.random.Generator) -> None:
    images = rng.uniform(1.0, 2.0, (5, 2, 4, 4))
    with pytest.raises(ValueError, match="times_ms"):
        map_series(images, np.tile(SPIN_LOCK[:4], (2, 1)), "T1rho")  # 4 timings for 5 images
    with pytest.raises(ValueError, match="times_ms"):
        map_series(images, np.tile(SPIN_LOCK, (3, 1)), "T1rho")  # 3 slices of timings for 2
    with pytest.raises(ValueError, match="missing"):
        map_series(images, None, "T2")
    with pytest.raises(ValueError, match="missing"):
        map_series(images, np.array([[0, 10, np.nan, 30, 40]] * 2), "T2")
    with pytest.raises(ValueError, match="at least 3"):
        map_series(images[:2], np.tile(MOLLI_TI[:2], (2, 1)), "T1")
    with pytest.raises(ValueError, match="at least 2"):
        map_series(images[:1], np.zeros((2, 1)), "T2")
    with pytest.raises(ValueError, match="biomarker"):
        map_series(images, np.tile(SPIN_LOCK, (2, 1)), "T3")
    with pytest.raises(ValueError, match="shape"):
        map_series(images[:, 0], SPIN_LOCK, "T2")
    with pytest.raises(ValueError, match="mask"):
        map_series(images, SPIN_LOCK, "T2", np.ones((2, 4, 5), dtype=bool))
    with pytest.raises(ValueError, match="t_ms"):
        fit_monoexp(images, SPIN_LOCK[:3])
    with pytest.raises(ValueError, match="distinct"):
        fit_molli(images[:3], np.array([100.0, 100.0, 200.0]))
