"""BART's .cfl/.hdr format (our reader/writer) and the BART engine against the SigPy engine."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from cardiomm.acquisition import Acquisition
from cardiomm.io.cfl import read_cfl, read_hdr, write_cfl
from cardiomm.recon.classical.bart import bart_available, bart_slice, from_bart_image, to_bart
from cardiomm.recon.classical.cs import KTTV
from cardiomm.recon.classical.espirit import espirit_maps
from cardiomm.recon.classical.sense import SENSE, sense_frame
from cardiomm.recon.classical.series import CSParams, recon_series
from cardiomm.recon.classical.zero_filled import zero_filled
from cardiomm.sampling.masks import acs_mask, make_mask, undersample

needs_bart = pytest.mark.skipif(bart_available() is None,
                                reason="the `bart` binary is not on PATH (Debian: apt-get install -y bart)")


def _psnr(ref: np.ndarray, rec: np.ndarray) -> float:
    return float(10 * np.log10(ref.max() ** 2 / np.mean((rec.astype(np.float64) - ref) ** 2)))


# --------------------------------------------------------------------------------------------- cfl
def test_cfl_round_trip_and_layout(tmp_path) -> None:
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4, 1, 5)) + 1j * rng.standard_normal((3, 4, 1, 5))).astype(np.complex64)
    write_cfl(tmp_path / "a", a)
    assert (tmp_path / "a.hdr").read_text().splitlines()[:2] == ["# Dimensions", "3 4 1 5" + " 1" * 12 + " "]
    # column-major: dimension 0 fastest in the file
    raw = np.fromfile(tmp_path / "a.cfl", dtype="<c8")
    assert raw[1] == a[1, 0, 0, 0] and raw[3] == a[0, 1, 0, 0] and raw.size == a.size
    np.testing.assert_array_equal(read_cfl(tmp_path / "a"), a)  # trailing ones dropped
    assert read_cfl(tmp_path / "a.cfl", ndim=6).shape == (3, 4, 1, 5, 1, 1)
    assert read_hdr(tmp_path / "a") == (3, 4, 1, 5) + (1,) * 12


def test_cfl_bad_files(tmp_path) -> None:
    write_cfl(tmp_path / "b", np.ones((2, 3), np.complex64))
    with pytest.raises(ValueError, match="non-singleton"):
        read_cfl(tmp_path / "b", ndim=1)
    (tmp_path / "b.cfl").write_bytes(b"\0" * 8)
    with pytest.raises(ValueError, match=r"b\.cfl: 1 complex values"):
        read_cfl(tmp_path / "b")
    (tmp_path / "c.hdr").write_text("nonsense\n")
    with pytest.raises(ValueError, match=r"c\.hdr: not a BART header"):
        read_cfl(tmp_path / "c")
    with pytest.raises(ValueError, match="NaN"):
        write_cfl(tmp_path / "d", np.array([np.nan], np.complex64))


def test_bart_layout_round_trip() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 6, 8)).astype(np.complex64)  # (nt, nc, ny, nx)
    b = to_bart(x)
    assert b.shape == (6, 8, 1, 3, 1, 1, 1, 1, 1, 1, 4)
    assert b[2, 5, 0, 1, 0, 0, 0, 0, 0, 0, 3] == x[3, 1, 2, 5]
    img = to_bart(x[:, :1])
    np.testing.assert_array_equal(from_bart_image(img), x[:, 0])


# --------------------------------------------------------------------------------------------- bart itself
@needs_bart
def test_bart_reads_and_writes_our_cfl(tmp_path) -> None:
    rng = np.random.default_rng(2)
    a = (rng.standard_normal((6, 5, 1, 2)) + 1j * rng.standard_normal((6, 5, 1, 2))).astype(np.complex64)
    write_cfl(tmp_path / "in", a)
    subprocess.run(["bart", "fft", "-u", "3", "in", "out"], cwd=tmp_path, check=True, capture_output=True)
    # BART's unitary FFT over dims 0, 1, centred: fftmod convention = fftshift(fft(ifftshift)) for even sizes
    want = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(a, axes=(0, 1)), axes=(0, 1), norm="ortho"), axes=(0, 1))
    np.testing.assert_allclose(read_cfl(tmp_path / "out", ndim=4), want, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def phantom_case():
    import torch

    from cardiomm.physics.fft import fft2c
    from tests.test_classical import NC, NT, N, coil_maps, dynamic_phantom

    k = fft2c(torch.from_numpy(coil_maps(NC, N)[None] * dynamic_phantom()[:, None])).numpy()[:, None]
    k = k.astype(np.complex64)
    mask = make_mask("ktGaussian8", NT, N, N, seed=3, acs=16)
    return k, mask, undersample(k, mask)


@needs_bart
def test_bart_sense_with_our_maps_equals_sigpy_sense(phantom_case) -> None:
    k, mask, kus = phantom_case
    m = mask.astype(bool)
    y = kus[:, 0]
    maps = espirit_maps(y, m, acs_mask("ktGaussian8", *y.shape[-2:], acs=16), calib_width=16)
    got, _ = bart_slice(SENSE.pics, y, m, acs_mask("ktGaussian8", *y.shape[-2:], acs=16), 0.01, 30, 16, maps=maps)
    want = np.stack([sense_frame(y[t], maps, m[t], lamda=0.01, max_iter=30) for t in range(len(y))])
    # same problem (same maps, data, lamda), two CG implementations: equal to a small fraction of the image
    assert np.linalg.norm(np.abs(got) - np.abs(want)) / np.linalg.norm(np.abs(want)) < 0.01


@needs_bart
def test_bart_kttv_with_our_maps_converges_to_sigpy_kttv(phantom_case) -> None:
    # same maps, data, lamda and a non-circular temporal difference (BART's TV, SigPy's mapping form): the same
    # problem, BART's ADMM against SigPy's PDHG; measured relative difference 0.027 at 40, 0.009 at 100 iterations
    from cardiomm.recon.classical.cs import kttv_slice

    _, mask, kus = phantom_case
    m, y = mask.astype(bool), kus[:, 0]
    region = acs_mask("ktGaussian8", *y.shape[-2:], acs=16)
    maps = espirit_maps(y, m, region, calib_width=16)
    got, _ = bart_slice(KTTV.pics, y, m, region, 0.01, 100, 16, maps=maps)
    want = kttv_slice(y, maps, m, 0.01, 100, periodic=False)
    assert np.linalg.norm(np.abs(got) - np.abs(want)) / np.linalg.norm(np.abs(want)) < 0.02


@needs_bart
@pytest.mark.parametrize("method,lamda", [("sense", 0.01), ("cs", 0.001), ("kttv", 0.01)])
def test_bart_engine_and_sigpy_engine_both_work_and_roughly_agree(phantom_case, method: str, lamda: float) -> None:
    # whole engines: each calibrates its own maps and runs its own solver; cs differs most (BART's wavelet with
    # random shifts vs SigPy's Daubechies-4), kttv by its boundary (BART's TV is not circular)
    k, mask, kus = phantom_case
    ref = zero_filled(k)
    zf = _psnr(ref, zero_filled(kus))
    out = {}
    for eng in ("sigpy", "bart"):
        acq = Acquisition.from_arrays(kus, mask, "ktGaussian8", 16)
        rec = recon_series(method, acq, CSParams(lamda, 40, engine=eng))
        out[eng] = _psnr(ref, rec)
    assert min(out.values()) > zf + 2.0, (zf, out)  # measured: zf 24.2, SENSE 27.8 (SigPy) / 27.1 (BART)
    assert abs(out["sigpy"] - out["bart"]) < 6.0, out
