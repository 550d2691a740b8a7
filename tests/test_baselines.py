"""Classical baselines: zero-filled RSS and ESPIRiT + CG-SENSE (SigPy) on a noiseless numerical phantom."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardiomm.acquisition import Acquisition
from cardiomm.physics.coils import rss
from cardiomm.physics.fft import fft2c
from cardiomm.recon.classical.espirit import espirit_maps
from cardiomm.recon.classical.sense import sense_recon_series
from cardiomm.recon.classical.zero_filled import zero_filled
from cardiomm.sampling.masks import acs_mask, make_mask, undersample

N, NC = 96, 8


def ellipse_phantom(n: int = N) -> np.ndarray:
    """A few ellipses with a smooth phase, complex128 ``(n, n)``."""
    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    img = np.zeros((n, n), dtype=np.complex128)
    # (centre y, centre x, semi-axis y, semi-axis x, intensity)
    for cy, cx, ay, ax, v in [
        (0, 0, 0.8, 0.65, 1.0),
        (0, 0.1, 0.45, 0.3, -0.4),
        (0.2, -0.3, 0.15, 0.2, 0.5),
        (-0.4, 0.2, 0.1, 0.12, 0.8),
    ]:
        img[((y - cy) / ay) ** 2 + ((x - cx) / ax) ** 2 <= 1] += v
    return img * np.exp(0.5j * x)


def coil_maps(nc: int = NC, n: int = N) -> np.ndarray:
    """Smooth complex sensitivities of ``nc`` coils on a ring, complex128 ``(nc, n, n)`` (not normalised)."""
    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    maps = []
    for c in range(nc):
        a = 2 * np.pi * c / nc
        cy, cx = 1.3 * np.sin(a), 1.3 * np.cos(a)
        magnitude = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 1.5)
        maps.append(magnitude * np.exp(1j * (a + 0.8 * (x * np.cos(a) + y * np.sin(a)))))
    return np.stack(maps)


@pytest.fixture(scope="module")
def kspace() -> np.ndarray:
    """Noiseless fully sampled k-space ``(1, 1, NC, N, N)`` complex64."""
    coil_images = torch.from_numpy(coil_maps() * ellipse_phantom())
    return fft2c(coil_images).numpy()[None, None].astype(np.complex64)


@pytest.fixture(scope="module")
def reference(kspace: np.ndarray) -> np.ndarray:
    return zero_filled(kspace)


def _nmse(ref: np.ndarray, rec: np.ndarray) -> float:
    return float(np.sum((rec.astype(np.float64) - ref) ** 2) / np.sum(ref.astype(np.float64) ** 2))


def _psnr(ref: np.ndarray, rec: np.ndarray) -> float:
    return float(10 * np.log10(ref.max() ** 2 / np.mean((rec.astype(np.float64) - ref) ** 2)))


# --------------------------------------------------------------------------------------------
# zero-filled
# --------------------------------------------------------------------------------------------
def test_zero_filled_of_full_kspace_is_rss_of_ifft() -> None:
    rng = np.random.default_rng(0)
    shape = (2, 3, 4, 10, 13)
    k = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    img = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    want = np.sqrt((np.abs(img) ** 2).sum(axis=2))
    got = zero_filled(k)
    assert got.shape == (2, 3, 10, 13) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_zero_filled_reference_is_phantom_magnitude_times_coil_rss(reference: np.ndarray) -> None:
    want = np.abs(ellipse_phantom()) * rss(torch.from_numpy(coil_maps())).numpy()
    np.testing.assert_allclose(reference[0, 0], want, rtol=1e-4, atol=1e-5)


def test_zero_filled_rejects_bad_input(kspace: np.ndarray) -> None:
    bad = kspace.copy()
    bad[0, 0, 0, 5, 5] = np.inf
    with pytest.raises(ValueError, match="NaN/Inf"):
        zero_filled(bad)
    with pytest.raises(ValueError, match="complex"):
        zero_filled(np.abs(kspace))
    with pytest.raises(ValueError, match="shape"):
        zero_filled(kspace[0])


# --------------------------------------------------------------------------------------------
# ESPIRiT + SENSE
# --------------------------------------------------------------------------------------------
def test_espirit_maps_are_unit_rss_inside_support(kspace: np.ndarray) -> None:
    mask = make_mask("Uniform4", 1, N, N, seed=0)
    maps = espirit_maps(undersample(kspace, mask)[:, 0], mask, acs_mask("Uniform4", N, N))
    assert maps.shape == (NC, N, N) and maps.dtype == np.complex64
    r = np.sqrt((np.abs(maps) ** 2).sum(axis=0))
    support = r > 0
    np.testing.assert_allclose(r[support], 1.0, atol=1e-5)
    # the whole object lies inside the support
    assert support[np.abs(ellipse_phantom()) > 0].all()


def test_espirit_averages_frames(kspace: np.ndarray) -> None:
    # frames with identical ACS give the same maps as one frame
    mask1 = make_mask("ktGaussian8", 1, N, N, seed=0)
    mask3 = make_mask("ktGaussian8", 3, N, N, seed=0)
    region = acs_mask("ktGaussian8", N, N)
    k3 = undersample(np.repeat(kspace, 3, axis=0), mask3)
    m1 = espirit_maps(undersample(kspace, mask1)[:, 0], mask1, region)
    m3 = espirit_maps(k3[:, 0], mask3, region)
    np.testing.assert_allclose(m3, m1, atol=1e-4)


def test_sense_recovers_phantom_at_uniform4(kspace: np.ndarray, reference: np.ndarray) -> None:
    mask = make_mask("Uniform4", 1, N, N, seed=0)
    # noiseless data: exact recovery is expected with (almost) no regularisation and a converged CG
    acq = Acquisition.from_arrays(undersample(kspace, mask), mask, "Uniform4")
    rec = sense_recon_series(acq, lamda=1e-4, max_iter=100)
    assert rec.shape == reference.shape and rec.dtype == np.float32
    assert _nmse(reference, rec) < 1e-3
    # same intensity scale as the RSS reference (least-squares gain ~ 1)
    gain = float(np.sum(rec * reference) / np.sum(reference**2))
    assert gain == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("name", ["Uniform8", "ktRadial8"])
def test_sense_beats_zero_filled(kspace: np.ndarray, reference: np.ndarray, name: str) -> None:
    mask = make_mask(name, 1, N, N, seed=0)
    kus = undersample(kspace, mask)
    sense = sense_recon_series(Acquisition.from_arrays(kus, mask, name))  # default lamda / max_iter
    zf = zero_filled(kus)
    assert _psnr(reference, sense) > _psnr(reference, zf) + 2.0


def test_sense_series_shapes_and_broadcast_mask() -> None:
    # (nt=2, nz=2) series, one mask frame broadcast over time; small grid to stay fast
    n = 48
    img = torch.from_numpy(coil_maps(4, n) * ellipse_phantom(n))
    k = fft2c(img).numpy().astype(np.complex64)
    k = np.stack([np.stack([k, 0.5 * k]), np.stack([k, 0.5 * k])])  # (nt, nz, nc, ny, nx)
    mask = make_mask("Uniform2", 1, n, n, seed=0, acs=16)
    acq = Acquisition.from_arrays(undersample(k, mask), mask, "Uniform2", 16)
    rec = sense_recon_series(acq, lamda=1e-4, max_iter=50)
    assert rec.shape == (2, 2, n, n)
    ref = zero_filled(k)
    assert _nmse(ref[:, 1], rec[:, 1]) < 1e-2
    # linear in the data: half the k-space, half the image
    np.testing.assert_allclose(rec[:, 1], 0.5 * rec[:, 0], rtol=1e-3, atol=1e-3 * rec.max())


def test_sense_rejects_bad_input(kspace: np.ndarray) -> None:
    mask = make_mask("Uniform4", 1, N, N, seed=0)
    kus = undersample(kspace, mask)
    bad = kus.copy()
    bad[0, 0, 1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        sense_recon_series(Acquisition.from_arrays(bad, mask, "Uniform4"))
    small = make_mask("Uniform4", 1, N, N, seed=0, acs=6)
    with pytest.raises(ValueError, match="ESPIRiT needs at least 8"):
        sense_recon_series(Acquisition.from_arrays(undersample(kspace, small), small, "Uniform4", 6))
    holed = mask.copy()
    holed[0, N // 2 + 1, :] = 0
    with pytest.raises(ValueError, match="ACS region"):
        sense_recon_series(Acquisition.from_arrays(undersample(kspace, holed), holed, "Uniform4"))
    with pytest.raises(ValueError, match="does not match"):
        sense_recon_series(Acquisition.from_arrays(kus, mask[:, :-1], "Uniform4"))
    with pytest.raises(ValueError, match="complex"):
        sense_recon_series(Acquisition.from_arrays(np.abs(kus), mask, "Uniform4"))
    # a calibration region narrower than 8 points cannot be used by ESPIRiT
    with pytest.raises(ValueError, match="calibration region"):
        espirit_maps(kus[:, 0], mask, acs_mask("Uniform4", N, N, acs=6))
    with pytest.raises(ValueError, match="not sampled"):
        espirit_maps(undersample(kspace, holed)[:, 0], holed, acs_mask("Uniform4", N, N))
