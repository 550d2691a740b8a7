"""RSS noise floor: estimated from background air, removed before fitting; noise-only pixels are not valid fits;
the fully sampled reference of a generated subject at the default SNR recovers the myocardial truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cardiomm.conventions import LV_MYO
from cardiomm.io.cmrxrecon import read_kspace, read_timing
from cardiomm.io.nifti import load_image
from cardiomm.phantom.contrasts import molli_inversion_times
from cardiomm.phantom.generate import PhantomConfig, cohort_specs, write_subject
from cardiomm.physics.coils import rss
from cardiomm.physics.fft import ifft2c
from cardiomm.quantify.mapping import map_series, myocardial_summary, series_noise
from cardiomm.quantify.noise import MIN_AIR_PIXELS, background_noise, floor_summary, remove_noise_floor

COILS = 10
TE = np.array([0.0, 25.0, 55.0])


def _rss_series(signal: np.ndarray, disc: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """RSS of ``COILS`` coils (unit sensitivity): object ``signal[w] * disc`` plus complex noise of SD sigma per
    real/imaginary channel. Returns ``(nw, 1, ny, nx)``."""
    nw = signal.size
    shape = (nw, COILS) + disc.shape
    obj = signal[:, None, None, None] * disc[None, None] / np.sqrt(COILS)
    coils = obj + sigma * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    return np.sqrt((np.abs(coils) ** 2).sum(1))[:, None]


def _disc(n: int = 96, r: float = 30.0) -> np.ndarray:
    y, x = np.mgrid[:n, :n] - n / 2
    return np.hypot(x, y) < r


def test_background_power_is_the_coil_noise_power():
    rng = np.random.default_rng(0)
    disc = _disc()
    sigma = 0.04
    img = _rss_series(np.exp(-TE / 50.0), disc, sigma, rng)
    bg = background_noise(img[:, 0])
    assert bg is not None and bg.n_pixels >= MIN_AIR_PIXELS
    # E[M^2] in air = sum over coils of E|n_c|^2 = 2 L sigma^2
    assert bg.power == pytest.approx(2 * COILS * sigma**2, rel=0.03)
    # no air at all (object fills the image): no estimate rather than a wrong one
    assert background_noise(np.ones((3, 40, 40)) + 0.01 * rng.standard_normal((3, 40, 40))) is None


def test_noise_floor_removal_recovers_t2_that_the_raw_rss_overestimates():
    rng = np.random.default_rng(1)
    disc = _disc()
    sigma = 1.0 / 25.0 / np.sqrt(2)  # SNR 25 of the first weighting per coil-combined channel
    img = _rss_series(np.exp(-TE / 50.0), disc, sigma, rng)
    times = np.tile(TE, (1, 1))
    raw, _ = map_series(img, times, "T2", mask=disc[None])
    corr, valid = map_series(img, times, "T2", mask=disc[None], noise=series_noise(img))
    bias_raw, bias_corr = np.nanmean(raw[0][disc]) - 50.0, np.nanmean(corr[0][disc]) - 50.0
    assert bias_raw > 1.5  # the floor lifts the late echoes: T2 too long
    assert abs(bias_corr) < 0.3
    assert valid[0][disc].mean() > 0.99


def test_noise_only_pixels_are_not_valid_t1():
    rng = np.random.default_rng(2)
    disc = _disc()
    ti = molli_inversion_times(900.0)
    a, b, t1s = 0.8 * 0.9, 0.8 * 0.9 + 0.8, 900.0
    sig = np.abs(a - b * np.exp(-ti / t1s))
    img = _rss_series(sig, disc, 0.02, rng)
    air = ~_disc(r=40.0)
    times = ti[None]
    plain, plain_valid = map_series(img, times, "T1")
    # without the SNR criterion a good share of noise-only pixels fit a "valid" T1 (the 184 ms case)
    assert plain_valid[0][air].mean() > 0.05
    value, valid = map_series(img, times, "T1", noise=series_noise(img))
    assert valid[0][air].mean() < 0.001
    assert np.isnan(value[0][air & ~valid[0]]).all()
    assert valid[0][_disc(r=28.0)].mean() > 0.99  # the object itself is still fitted


def test_floor_is_removed_only_where_the_air_is_noise_only_rss():
    """The background floor is the tissue floor only for noise-only (white) RSS air; a denoised, zero or
    aliased background is detected, and its series is fitted as it is (what the raw fit gives)."""
    from scipy import ndimage

    rng = np.random.default_rng(3)
    disc = _disc()
    sigma = 1.0 / 25.0 / np.sqrt(2)
    img = _rss_series(np.exp(-TE / 50.0), disc, sigma, rng)
    bg = background_noise(img[:, 0])
    assert bg.floor_valid and abs(bg.correlation) < 0.05 and bg.floor_reason == ""
    denoised = ndimage.gaussian_filter(img, (0, 0, 3, 3))  # a network's smooth air: the floor without its spread
    zero = img * disc  # SENSE: nothing outside the coil-sensitivity support
    # zero-filled: a faint aliased copy of the object, in every coil, in the air (structured there)
    ghost = _rss_series(np.exp(-TE / 50.0), disc + 0.15 * np.roll(disc, 48, axis=-1), sigma, rng)
    for name, bad in (("denoised", denoised), ("zero", zero), ("ghost", ghost)):
        b = background_noise(bad[:, 0])
        assert b is not None and not b.floor_valid and b.floor_reason, name
    assert "zero or constant" in background_noise(zero[:, 0]).floor_reason
    times = np.tile(TE, (1, 1))
    raw, _ = map_series(denoised, times, "T2", mask=disc[None])
    kept, _ = map_series(denoised, times, "T2", mask=disc[None], noise=series_noise(denoised))
    np.testing.assert_allclose(kept[0][disc], raw[0][disc])
    assert floor_summary(series_noise(img)) == "removed (background air, every slice)"
    assert "not removed in slice 0: background air is not white noise" in floor_summary(series_noise(denoised))
    assert floor_summary([None]).endswith("slice 0: no background air")
    assert "not asked for" in floor_summary(None)


def test_remove_noise_floor_rejects_bad_power():
    assert remove_noise_floor(np.array([3.0, 1.0]), 4.0).tolist() == [pytest.approx(np.sqrt(5.0)), 0.0]
    with pytest.raises(ValueError, match="noise floor"):
        remove_noise_floor(np.ones(3), float("nan"))


# A generated subject at the default SNR (25) and coil compression (10 virtual coils); two frames only.
CFG = PhantomConfig(nt=2, counts={"train": 0, "val": 0, "test": 1, "external": 0})


def _reference_biases(root, cfg: PhantomConfig) -> dict:
    """Reference (RSS of the full k-space) minus truth with the true labels, raw and floor-corrected, per biomarker."""
    from cardiomm.cohort import subject_from_row

    spec = cohort_specs(cfg)[0]
    write_subject(spec, cfg, root)
    s = subject_from_row(root, {k: str(v) for k, v in spec.row(cfg).items()})
    truth = pd.read_csv(s.truth_path()).set_index("indicator")["value"]
    out = {}
    for mod, bm in (("t1map", "T1"), ("t2map", "T2"), ("t1rhomap", "T1rho")):
        images = rss(ifft2c(torch.from_numpy(read_kspace(s.kspace_path(mod))))).numpy()
        times = read_timing(s.timing_path(mod), nz=images.shape[1], nt=images.shape[0])
        labels, geom = load_image(s.label_path(mod))
        lab = labels[0].astype(np.uint8)
        for name, noise in (("raw", None), ("corrected", series_noise(images))):
            vmap, valid = map_series(images, times, bm, mask=lab == LV_MYO, noise=noise)
            out[bm, name] = myocardial_summary(vmap, valid, lab, geom)["value"] - truth[bm]
    return out


@pytest.fixture(scope="module")
def biases(tmp_path_factory):
    """The subject at the default SNR, and the same subject noiseless (what is left there is the acquisition's
    point-spread: the k-space-rendered phantom's partial volume beyond the one-pixel erosion, issue 15)."""
    noisy = _reference_biases(tmp_path_factory.mktemp("noisy"), CFG)
    clean = _reference_biases(tmp_path_factory.mktemp("clean"), PhantomConfig(**{**CFG.__dict__, "snr": 1e9}))
    return noisy, clean


@pytest.mark.parametrize(("bm", "bound"), [("T1", 15.0), ("T2", 1.5), ("T1rho", 1.5)])
def test_fully_sampled_reference_recovers_biomarker_truth(biases, bm, bound):
    """Reference with the true labels: |bias| within a loose bound (goal: 10 / 1 / 1 ms, measured by
    benchmarks/bench_reference_bias.py on the default cohort), and the noise floor is what the correction removes:
    against the noiseless reference, the corrected fit keeps less than half the raw fit's noise-induced bias."""
    noisy, clean = biases
    assert abs(noisy[bm, "corrected"]) <= bound, noisy
    floor_raw = noisy[bm, "raw"] - clean[bm, "raw"]
    floor_corrected = noisy[bm, "corrected"] - clean[bm, "corrected"]
    assert abs(floor_corrected) < 0.5 * abs(floor_raw), (noisy, clean)


def test_undersampled_reconstruction_keeps_its_floor(tmp_path):
    """Zero-filled undersampled data: the air holds aliased signal, so its power is not the tissue floor
    (benchmarks/results/noise_floor_methods.md); the reference's air passes the test in every slice."""
    from cardiomm.cohort import subject_from_row
    from cardiomm.conventions import ACS_LINES
    from cardiomm.recon.classical.zero_filled import zero_filled
    from cardiomm.sampling.masks import make_mask, undersample

    spec = cohort_specs(CFG)[0]
    write_subject(spec, CFG, tmp_path)
    s = subject_from_row(tmp_path, {k: str(v) for k, v in spec.row(CFG).items()})
    k = read_kspace(s.kspace_path("t2map"))
    assert all(n.floor_valid for n in series_noise(zero_filled(k)))
    m = make_mask("Uniform8", k.shape[0], k.shape[-2], k.shape[-1], seed=7, acs=ACS_LINES)
    noise = series_noise(zero_filled(undersample(k, m)))
    assert not any(n.floor_valid for n in noise)
    assert floor_summary(noise).startswith("not removed in slice 0")


def test_reference_with_the_segmenters_labels_recovers_t1_truth(tmp_path):
    """P037 (external centre, 5 T, dilated): the shipped segmenter's myocardium takes in blood-pool pixels, which
    put the ROI mean +55 ms off the truth; the biomarker (the median) is within a loose bound (goal 10 ms on the
    cohort's mean; +6 ms on this subject; benchmarks/results/reference_bias.md)."""
    from cardiomm.cohort import subject_from_row
    from cardiomm.segmentation.infer import segment_mapping_series
    from cardiomm.segmentation.training_task import load_segmenter

    cfg = PhantomConfig(nt=2, counts={"train": 24, "val": 4, "test": 6, "external": 3})
    spec = next(s for s in cohort_specs(cfg) if s.subject == "P037")
    write_subject(spec, cfg, tmp_path)
    s = subject_from_row(tmp_path, {k: str(v) for k, v in spec.row(cfg).items()})
    truth = pd.read_csv(s.truth_path()).set_index("indicator")["value"]["T1"]
    images = rss(ifft2c(torch.from_numpy(read_kspace(s.kspace_path("t1map"))))).numpy()
    times = read_timing(s.timing_path("t1map"), nz=images.shape[1], nt=images.shape[0])
    _, geom = load_image(s.label_path("t1map"))
    lab = segment_mapping_series(load_segmenter("cardiomm/weights/segmentation.pt"), images)[0]
    vmap, valid = map_series(images, times, "T1", mask=lab == LV_MYO, noise=series_noise(images))
    summ = myocardial_summary(vmap, valid, lab, geom)
    assert abs(summ["value"] - truth) <= 25.0, (summ["value"], summ["mean"], truth)
    assert summ["mean"] - truth > 2 * abs(summ["value"] - truth)  # the mean follows the blood tail
