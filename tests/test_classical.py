"""Compressed sensing (``cs``) and k-t temporal TV (``kttv``) on SigPy: operators, solvers, phantom recovery."""

from __future__ import annotations

import numpy as np
import pytest
import sigpy as sp
import sigpy.mri.app as mr_app
import torch

from cardiomm.acquisition import Acquisition
from cardiomm.physics.fft import fft2c
from cardiomm.physics.sense import sense_linop
from cardiomm.recon.classical.cs import cs_slice, kttv_slice, temporal_difference
from cardiomm.recon.classical.espirit import espirit_maps
from cardiomm.recon.classical.sense import sense_recon_series
from cardiomm.recon.classical.series import CSParams, recon_series
from cardiomm.recon.classical.zero_filled import zero_filled
from cardiomm.sampling.masks import acs_mask, make_mask, undersample
from tests.test_baselines import coil_maps

N, NC, NT = 64, 8, 8


def _rng_complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def dynamic_phantom(nt: int = NT, n: int = N) -> np.ndarray:
    """Piecewise-constant 'heart': a static body, a blood pool whose radius beats over the (periodic) cycle.

    complex128 ``(nt, n, n)`` with a smooth phase.
    """
    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    frames = []
    for t in range(nt):
        r = 0.25 + 0.08 * np.cos(2 * np.pi * t / nt)
        img = 0.6 * (((y / 0.85) ** 2 + (x / 0.7) ** 2) <= 1).astype(float)
        img[(y - 0.05) ** 2 + (x + 0.1) ** 2 <= r**2] = 1.0
        img[((y + 0.45) / 0.12) ** 2 + ((x - 0.3) / 0.2) ** 2 <= 1] = 0.3
        frames.append(img * np.exp(0.4j * x))
    return np.stack(frames)


@pytest.fixture(scope="module")
def kspace() -> np.ndarray:
    """Noiseless fully sampled ``(NT, 1, NC, N, N)`` complex64 of the dynamic phantom."""
    coil_images = torch.from_numpy(coil_maps(NC, N)[None] * dynamic_phantom()[:, None])
    return fft2c(coil_images).numpy()[:, None].astype(np.complex64)


def _psnr(ref: np.ndarray, rec: np.ndarray) -> float:
    return float(10 * np.log10(ref.max() ** 2 / np.mean((rec.astype(np.float64) - ref) ** 2)))


# --------------------------------------------------------------------------------------------- operators
# (the SENSE operator and its building blocks are checked by the generic operator test of tests/test_physics.py)
@pytest.mark.parametrize("periodic", [True, False])
def test_temporal_difference_is_adjoint_and_linear(periodic: bool) -> None:
    rng = np.random.default_rng(1)
    A = temporal_difference((4, 6, 10), periodic=periodic)
    x, x2 = _rng_complex(rng, A.ishape), _rng_complex(rng, A.ishape)
    y = _rng_complex(rng, A.oshape)
    lhs, rhs = np.vdot(A(x), y), np.vdot(x, A.H(y))
    assert abs(lhs - rhs) <= 1e-4 * abs(lhs)
    np.testing.assert_allclose(A(2 * x + x2), 2 * A(x) + A(x2), rtol=1e-4, atol=1e-4)


def test_temporal_difference_values() -> None:
    x = np.arange(4, dtype=np.complex64)[:, None, None] ** 2 * np.ones((1, 2, 3), np.complex64)
    np.testing.assert_allclose(temporal_difference(x.shape, True)(x)[0, :, 0, 0], [0 - 9, 1, 3, 5])
    np.testing.assert_allclose(temporal_difference(x.shape, False)(x)[0, :, 0, 0], [1, 3, 5])


# --------------------------------------------------------------------------------------------- solvers
def test_cs_slice_equals_sigpy_l1waveletrecon_frame_by_frame(kspace: np.ndarray) -> None:
    mask = make_mask("Uniform4", NT, N, N, seed=0).astype(bool)
    y = undersample(kspace, mask)[:, 0]
    maps = espirit_maps(y, mask, acs_mask("Uniform4", N, N))
    lamda, iters = 0.01, 15
    got = cs_slice(y, maps, mask, lamda, iters, penalise_approximation=True)
    A = sense_linop(maps, mask)
    s = float(np.percentile(np.abs(A.H(y)), 99))
    for t in (0, 5):
        yt = (y[t] / s).astype(np.complex64)
        w = mask[t].astype(np.float32)
        x0 = sp.mri.linop.Sense(maps, weights=w).H(yt)
        want = mr_app.L1WaveletRecon(yt, maps, lamda, weights=w, x=x0, alpha=1.0, max_iter=iters,
                                     show_pbar=False).run() * s
        np.testing.assert_allclose(got[t], want, rtol=1e-3, atol=2e-3 * np.abs(want).max())


def test_cs_and_kttv_are_on_the_reference_scale_and_recover_the_phantom(kspace: np.ndarray) -> None:
    # R = 2 with ACS: both regularised problems are almost exactly determined; tiny lamda -> the phantom
    mask = make_mask("Uniform2", NT, N, N, seed=0, acs=16)
    kus = undersample(kspace, mask)
    ref = zero_filled(kspace)
    for method in ("cs", "kttv"):
        acq = Acquisition.from_arrays(kus, mask, "Uniform2", 16)
        rec = recon_series(method, acq, CSParams(lamda=1e-4, max_iter=150))
        assert rec.shape == ref.shape and rec.dtype == np.float32
        assert np.sum((rec - ref) ** 2) / np.sum(ref**2) < 5e-3, method
        gain = float(np.sum(rec * ref) / np.sum(ref**2))
        assert gain == pytest.approx(1.0, abs=0.03), method


@pytest.fixture(scope="module")
def kt_undersampled(kspace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask = make_mask("ktGaussian8", NT, N, N, seed=3, acs=16)
    return undersample(kspace, mask), mask


def test_kttv_beats_sense_and_zero_filled_on_kt_undersampling(kspace, kt_undersampled) -> None:
    kus, mask = kt_undersampled
    ref = zero_filled(kspace)
    zf = _psnr(ref, zero_filled(kus))
    sense = _psnr(ref, sense_recon_series(Acquisition.from_arrays(kus, mask, "ktGaussian8", 16)))
    acq = Acquisition.from_arrays(kus, mask, "ktGaussian8", 16)
    kttv = _psnr(ref, recon_series("kttv", acq, CSParams(lamda=0.01, max_iter=60)))
    # a varying k-t pattern samples different lines in each frame: exploiting time must win by a margin
    # (measured: zero-filled 24.3, SENSE 27.8, kttv 45.5 dB)
    assert kttv > sense + 10.0 and kttv > zf + 10.0, (zf, sense, kttv)


def test_cs_beats_sense_on_a_piecewise_constant_phantom(kspace: np.ndarray) -> None:
    k = kspace[:2]
    mask = make_mask("Uniform6", 2, N, N, seed=3, acs=16)
    kus, ref = undersample(k, mask), zero_filled(k)
    sense = _psnr(ref, sense_recon_series(Acquisition.from_arrays(kus, mask, "Uniform6", 16)))
    acq = Acquisition.from_arrays(kus, mask, "Uniform6", 16)
    cs = _psnr(ref, recon_series("cs", acq, CSParams(lamda=3e-4, max_iter=60)))
    assert cs > sense + 1.5, (sense, cs)  # measured: 29.1 vs 31.6 dB


def test_kttv_mapping_kind_uses_its_own_lamda_and_open_difference(kspace, kt_undersampled) -> None:
    kus, mask = kt_undersampled
    p = CSParams(lamda=0.01, max_iter=10, lamda_mapping=0.0)
    assert p.lamda_for("mapping") == 0.0 and p.lamda_for("cine") == 0.01
    got = recon_series("kttv", Acquisition.from_arrays(kus[:, :1], mask, "ktGaussian8", 16), p, kind="mapping")
    maps = espirit_maps(kus[:, 0], mask.astype(bool), acs_mask("ktGaussian8", N, N, acs=16), calib_width=16)
    want = np.abs(kttv_slice(kus[:, 0], maps, mask.astype(bool), 0.0, 10, periodic=False))
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-5, atol=1e-6 * want.max())


def test_bad_input_and_params(kspace: np.ndarray) -> None:
    mask = make_mask("Uniform4", NT, N, N, seed=0)
    kus = undersample(kspace, mask)
    p = CSParams(lamda=0.01, max_iter=2)
    with pytest.raises(ValueError, match="unknown method"):
        recon_series("tv3d", Acquisition.from_arrays(kus, mask, "Uniform4"), p)
    with pytest.raises(ValueError, match="kind"):
        recon_series("cs", Acquisition.from_arrays(kus, mask, "Uniform4"), p, kind="perfusion")
    bad = kus.copy()
    bad[0, 0, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        recon_series("kttv", Acquisition.from_arrays(bad, mask, "Uniform4"), p)
    with pytest.raises(ValueError, match="does not match"):
        recon_series("cs", Acquisition.from_arrays(kus, mask[:, :-1], "Uniform4"), p)
    with pytest.raises(ValueError, match="empty"):
        recon_series("cs", Acquisition.from_arrays(np.zeros_like(kus), mask, "Uniform4"), p)
    with pytest.raises(ValueError, match=r"config kttv.*unknown keys \['lambda'\]"):
        CSParams.from_dict("kttv", {"lambda": 0.1})
    with pytest.raises(ValueError, match="config cs.engine"):
        CSParams.from_dict("cs", {"engine": "matlab"})
    with pytest.raises(ValueError, match="config cs.max_iter"):
        CSParams.from_dict("cs", {"max_iter": 0})
    assert CSParams.from_dict("cs", None) == CSParams(lamda=0.005, max_iter=30)


def test_detail_weights_spare_only_the_approximation_band() -> None:
    from cardiomm.recon.classical.cs import detail_weights

    shape = (2, 64, 48)
    w = detail_weights(shape, 0.5)
    W = sp.linop.Wavelet(shape, axes=(-2, -1), wave_name="db4")
    assert w.shape == tuple(W.oshape) and set(np.unique(w)) == {0.0, 0.5}
    # the zero-weight band is where a constant image's energy lives (the low-pass approximation; the rest is the
    # zero-padded border's edge)
    c = np.abs(W(np.ones(shape, np.complex64))) ** 2
    assert c[w == 0].sum() > 0.9 * c.sum()
    assert (w == 0).mean() < 0.1  # a small band: 7.6 % of the coefficients of a 64 x 48 image
