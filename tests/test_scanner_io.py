"""Scanner raw data in (MRD, twix VE and VB), files written with the libraries' own writers in the real layout:
the reader recovers the k-space, the geometry and the timing exactly; noise pre-whitening, ACS lines, prospective
undersampling, readout oversampling, an oblique slice; every bad input one error naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scanner_files import (
    Scan,
    expected_affine_lps,
    rotation,
    twix_scan_geometry,
    write_mrd,
    write_twix_vb,
    write_twix_ve,
)

from cardiomm.io.mrd import read_mrd
from cardiomm.io.rawdata import RawDataError, mapping_times, whitening_matrix
from cardiomm.io.twix import read_twix

R = rotation((20.0, -15.0, 30.0))


def _kspace(nt: int = 3, nz: int = 2, nc: int = 4, ny: int = 16, nx: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((nt, nz, nc, ny, nx)) + 1j * rng.standard_normal((nt, nz, nc, ny, nx))).astype(
        np.complex64)


def _scan(kind: str = "cine", **kw: object) -> Scan:
    base = {"read_dir": tuple(R[:, 0]), "phase_dir": tuple(R[:, 1]), "slice_dir": tuple(R[:, 2]),
            "centre": (10.0, -5.0, 3.0), "oversampling": 2, "dx": 1.8, "dy": 2.2, "thickness": 6.0,
            "spacing": 9.0}
    if kind == "cine":
        base["trigger_ms"] = [0.0, 42.5, 85.0]
    else:
        base.update(weight_counter="set", times=[120.0, 1100.0, 2300.0])
    base.update(kw)
    return Scan(_kspace(), kind, **base)


def _close(a: np.ndarray, b: np.ndarray) -> None:
    """Equal to float32 round-off of the oversampling FFTs (1e-6 of the largest value)."""
    np.testing.assert_allclose(a, b, rtol=0, atol=2e-6 * float(np.abs(b).max()))


# ------------------------------------------------------------------------------------------------ MRD


def test_mrd_cine_round_trip_oblique_oversampled(tmp_path):
    s = _scan("cine")
    r = read_mrd(write_mrd(tmp_path / "cine_sax.h5", s), "cine")
    assert r.shape == s.shape and r.fully_sampled and r.removed_oversampling == 2 * s.shape[-1]
    _close(r.kspace, s.kspace)
    assert r.mask.all() and r.mask.shape == (3, 16, 12)
    np.testing.assert_allclose(r.affine_lps, expected_affine_lps(s), atol=1e-5)
    assert (r.dx, r.dy, r.thickness) == pytest.approx((1.8, 2.2, 6.0)) and r.spacing == pytest.approx(9.0, abs=1e-4)
    np.testing.assert_allclose(r.trigger_ms, [0.0, 42.5, 85.0])
    assert (r.tr_ms, r.te_ms, r.flip_deg) == ([3.2], [1.4], [40.0]) and not r.whitened
    ras = r.affine_ras()
    np.testing.assert_allclose(ras[:2], -r.affine_lps[:2])  # NIfTI is RAS: x and y flipped


def test_mrd_without_oversampling_reads_the_samples_as_written(tmp_path):
    s = _scan("cine", oversampling=1)
    r = read_mrd(write_mrd(tmp_path / "cine_sax.h5", s), "cine")
    assert r.removed_oversampling is None
    np.testing.assert_array_equal(r.kspace, s.kspace)  # no FFT in the path: bit for bit


@pytest.mark.parametrize("where, name", [("user", "TI"), ("ti", "TI"), ("acq", "TI")])
def test_mrd_mapping_weightings_by_set_and_inversion_times(tmp_path, where, name):
    s = _scan("mapping", times_where=where, times_name=name)
    r = read_mrd(write_mrd(tmp_path / "T1map.h5", s), "mapping")
    assert r.weight_counter == "set" and r.shape == s.shape
    _close(r.kspace, s.kspace)
    times, source = mapping_times(r, "T1")
    assert times == pytest.approx([120.0, 1100.0, 2300.0])
    assert {"user": "userParameterDouble", "ti": "sequenceParameters.TI", "acq": "user_float[0]"}[where] in source


def test_mrd_t2_preparation_times_from_user_parameters(tmp_path):
    s = _scan("mapping", times=[0.0, 35.0, 55.0], times_name="T2prep", weight_counter="contrast")
    r = read_mrd(write_mrd(tmp_path / "T2map.h5", s), "mapping")
    assert r.weight_counter == "contrast"
    assert mapping_times(r, "T2")[0] == pytest.approx([0.0, 35.0, 55.0])
    assert mapping_times(r, "T1rho") is None


def test_mrd_noise_scan_prewhitens_the_coils(tmp_path):
    nc = 4
    cov = np.eye(nc) * 0.5 + 0.2 + 0.1j * np.triu(np.ones((nc, nc)), 1) - 0.1j * np.tril(np.ones((nc, nc)), -1)
    s = _scan("cine", noise_cov=cov, noise_samples=4096, oversampling=1)
    r = read_mrd(write_mrd(tmp_path / "cine_sax.h5", s), "cine")
    assert r.whitened and r.noise_samples == 4096
    noise = s.noise()
    W = whitening_matrix(noise)
    np.testing.assert_allclose(r.kspace, np.einsum("ij,tzjyx->tziyx", W, s.kspace), rtol=1e-5, atol=1e-5)
    white = W @ noise
    np.testing.assert_allclose(white @ white.conj().T / (noise.shape[1] - 1), np.eye(nc), atol=1e-4)
    assert not np.allclose(cov, np.eye(nc))  # the test data's noise is correlated


def test_mrd_prospectively_undersampled_with_acs_lines(tmp_path):
    ny = 16
    mask = np.zeros((3, ny), bool)
    for t in range(3):
        mask[t, t::4] = True
    mask[:, ny // 2 - 2:ny // 2 + 2] = True
    s = _scan("cine", mask=mask, acs=4)
    r = read_mrd(write_mrd(tmp_path / "cine_sax.h5", s), "cine")
    assert not r.fully_sampled and r.acs_lines == [6, 7, 8, 9]
    np.testing.assert_array_equal(r.mask[:, :, 0].astype(bool), mask)  # the mask is the data's own
    assert (r.mask == r.mask[..., :1]).all()
    _close(r.kspace * r.mask[:, None, None], s.kspace * mask[:, None, None, :, None])
    assert not np.any(r.kspace[:, :, :, ~mask[0]][0])  # lines not acquired stay empty: nothing invented


def test_mrd_identifiers_only_where_the_file_has_them(tmp_path):
    r = read_mrd(write_mrd(tmp_path / "a.h5", _scan("cine", patient={"name": "Doe^Jane", "id": "MRN-1"})), "cine")
    assert r.meta["patient_name"] == "Doe^Jane" and r.meta["patient_id"] == "MRN-1"
    r = read_mrd(write_mrd(tmp_path / "b.h5", _scan("cine")), "cine")
    assert "patient_name" not in r.meta and "patient_id" not in r.meta


# ------------------------------------------------------------------------------------------------ twix


@pytest.mark.parametrize("writer", [write_twix_ve, write_twix_vb])
def test_twix_round_trip_ve_multiraid_and_vb(tmp_path, writer):
    s = _scan("mapping", weight_counter="set")
    r = read_twix(writer(tmp_path / "T1map.dat", s), "mapping")
    assert r.shape == s.shape and r.fully_sampled and r.weight_counter == "set"
    _close(r.kspace, s.kspace)
    np.testing.assert_allclose(r.affine_lps, twix_scan_geometry(s), atol=1e-5)
    assert mapping_times(r, "T1") == ([120.0, 1100.0, 2300.0], "MeasYaps alTI")
    assert (r.tr_ms, r.te_ms) == ([3.2], [1.4]) and r.meta["vendor"] == "Siemens"


@pytest.mark.parametrize("writer", [write_twix_ve, write_twix_vb])
def test_twix_noise_scan_and_cine_trigger_times(tmp_path, writer):
    s = _scan("cine", noise_cov=np.eye(4) * 2.0 + 0.5, noise_samples=1024, oversampling=1)
    r = read_twix(writer(tmp_path / "cine_sax.dat", s), "cine")
    W = whitening_matrix(s.noise())
    np.testing.assert_allclose(r.kspace, np.einsum("ij,tzjyx->tziyx", W, s.kspace), rtol=1e-5, atol=1e-5)
    assert r.whitened and r.noise_samples == 1024
    np.testing.assert_allclose(r.trigger_ms, [0.0, 42.0, 85.0])  # MDH TimeSinceLastRF is whole ms


def test_twix_prospective_mask_and_acs(tmp_path):
    mask = np.zeros((3, 16), bool)
    mask[:, ::2] = True
    mask[:, 6:10] = True
    s = _scan("cine", mask=mask, acs=4)
    r = read_twix(write_twix_ve(tmp_path / "cine_sax.dat", s), "cine")
    assert not r.fully_sampled and r.acs_lines == [6, 7, 8, 9]
    np.testing.assert_array_equal(r.mask[:, :, 0].astype(bool), mask)


# ------------------------------------------------------------------------------------------------ bad input


def _bad(tmp_path: Path, name: str) -> Path:
    return tmp_path / name


@pytest.mark.parametrize("case, match", [
    ("radial", "only Cartesian data are supported yet"),
    ("limits", "missing encoding limits"),
    ("coils", "inconsistent coil counts"),
    ("samples", "mixed matrix sizes"),
    ("noise_only", "no image acquisitions"),
    ("truncated", "truncated or corrupt"),
])
def test_mrd_bad_input_one_clear_error_naming_the_file(tmp_path, case, match):
    s = _scan("cine", oversampling=1, noise_cov=np.eye(4) if case == "noise_only" else None)
    p = tmp_path / f"{case}.h5"
    kw = {"radial": {"trajectory": "radial"}, "limits": {"drop_limits": True}, "coils": {"coils_of_last": 3},
          "samples": {"samples_of_last": 10}, "noise_only": {"noise_only": True}}.get(case, {})
    write_mrd(p, s, **kw)
    if case == "truncated":
        with open(p, "r+b") as fh:
            fh.truncate(p.stat().st_size // 2)
    with pytest.raises(RawDataError, match=match) as err:
        read_mrd(p, "cine")
    assert str(p) in str(err.value)


def test_mrd_that_is_not_hdf5(tmp_path):
    p = tmp_path / "cine_sax.h5"
    p.write_text("not an MRD file\n")
    with pytest.raises(RawDataError, match=f"{p}: not a readable HDF5"):
        read_mrd(p, "cine")


@pytest.mark.parametrize("case, match", [
    ("radial", "only Cartesian data are supported yet"),
    ("limits", "missing encoding limits in the protocol"),
    ("truncated", "truncated"),
    ("coils", "inconsistent coil counts"),
    ("samples", "mixed matrix sizes"),
])
def test_twix_bad_input_one_clear_error_naming_the_file(tmp_path, case, match):
    s = _scan("cine", oversampling=1)
    p = tmp_path / f"{case}.dat"
    kw = {"radial": {"trajectory": 2}, "limits": {"drop": ("sKSpace.lPhaseEncodingLines",)},
          "truncated": {"truncate": 3000}, "coils": {"coils_of_last": 3}, "samples": {"samples_of_last": 10}}[case]
    write_twix_ve(p, s, **kw)
    with pytest.raises(RawDataError, match=match) as err:
        read_twix(p, "cine")
    assert str(p) in str(err.value)
