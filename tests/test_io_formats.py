"""MATLAB v5/v7 files (scipy.io), errors that say what a non-MAT file is, the CMRxRecon 2023 timing layout."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import scipy.io

from cardiomm.io import cmrxrecon as cio


def _kspace(shape=(3, 2, 4, 10, 12), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def test_v5_kspace_and_mask_read_in_the_v73_axis_order(tmp_path):
    k = _kspace()  # (nt, nz, nc, ny, nx); MATLAB holds (nx, ny, nc, nz, nt)
    p = tmp_path / "cine_sax.mat"
    scipy.io.savemat(p, {"kspace_full": k.transpose()})  # default: v5, as MATLAB's save writes small files
    assert p.read_bytes()[:19] == b"MATLAB 5.0 MAT-file"
    np.testing.assert_array_equal(cio.read_kspace(p), k)
    m = (np.random.default_rng(1).random((10, 12)) > 0.5).astype(np.float64)  # 2023 masks are 2D doubles
    pm = tmp_path / "cine_sax_mask.mat"
    scipy.io.savemat(pm, {"mask04": m.T, "mask08": m.T, "mask10": m.T})
    got = cio.read_mask(pm, key="mask08")
    assert got.shape == (1, 10, 12) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[0], m)
    with pytest.raises(cio.CMRxReconFileError, match="'mask' not found"):
        cio.read_mask(pm, key="mask")


def test_v5_and_v73_give_identical_arrays(tmp_path):
    k = _kspace((2, 1, 3, 8, 6), seed=5)
    cio.write_mat(tmp_path / "a.mat", {"kspace": k})
    scipy.io.savemat(tmp_path / "b.mat", {"kspace": k.transpose()})
    np.testing.assert_array_equal(cio.read_kspace(tmp_path / "a.mat"), cio.read_kspace(tmp_path / "b.mat"))


@pytest.mark.parametrize("make, what", [
    (lambda p: p.write_text("TI,slice1\nTI1,100\n"), "a text file"),
    (lambda p: p.write_bytes(gzip.compress(b"\x00" * 400)), "gzip"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 100), "zip archive"),
    (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p), "NumPy"),
])
def test_non_mat_file_error_says_what_it_is(tmp_path, make, what):
    p = tmp_path / "T1map.mat"
    make(p)
    with pytest.raises(cio.CMRxReconFileError, match=f"not a MATLAB .mat file: it is .*{what}") as e:
        cio.read_kspace(p)
    assert str(p) in str(e.value)


def test_truncated_v5_file_is_named(tmp_path):
    p = tmp_path / "m.mat"
    scipy.io.savemat(p, {"mask": np.ones((64, 64))})
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(cio.CMRxReconFileError, match="v5/v7 file cannot be read") as e:
        cio.read_mask(p)
    assert str(p) in str(e.value)


def _csv_2023(path, times, n_columns):
    """A 2023-release timing table: header, one row per weighting (``TIk``), one column per slice, 0-padded."""
    nz, nt = times.shape
    lines = ["," + ",".join(f"slice{z + 1}" for z in range(n_columns))]
    for t in range(nt):
        vals = [f"{times[z, t]:g}" if z < nz else "0" for z in range(n_columns)]
        lines.append(f"TI{t + 1}," + ",".join(vals))
    path.write_text("\n".join(lines) + "\n")


def test_2023_timing_layout_read_as_it_is(tmp_path):
    times = np.array([[100, 180, 260, 1100, 1180, 1260, 2100, 2180, 3100.0],
                      [105, 185, 265, 1105, 1185, 1265, 2105, 2185, 3105.0],
                      [110, 190, 270, 1110, 1190, 1270, 2110, 2190, 3110.0]])
    p = tmp_path / "T1map.csv"
    _csv_2023(p, times, n_columns=9)  # 3 slices padded to 9 columns, as the release ships it
    np.testing.assert_array_equal(cio.read_timing(p, nz=3, nt=9), times)
    np.testing.assert_array_equal(cio.read_timing(p), times)  # padding found without the image counts
    t2 = np.array([[0, 35, 55.0], [0, 35, 55.0]])  # a T2-prep time of 0 ms is a value, not padding
    p2 = tmp_path / "T2map.csv"
    _csv_2023(p2, t2, n_columns=5)
    np.testing.assert_array_equal(cio.read_timing(p2, nz=2, nt=3), t2)


def test_2023_timing_wrong_counts_are_errors(tmp_path):
    times = np.arange(1, 19, dtype=float).reshape(2, 9)
    p = tmp_path / "T1map.csv"
    _csv_2023(p, times, n_columns=4)
    with pytest.raises(cio.CMRxReconFileError, match="timing has 2 slices, images have 3"):
        cio.read_timing(p, nz=3, nt=9)
    with pytest.raises(cio.CMRxReconFileError, match="9 times per slice, images have 8"):
        cio.read_timing(p, nz=2, nt=8)
    with pytest.raises(cio.CMRxReconFileError, match="timing has 2 slices, images have 1"):
        cio.read_timing(p, nz=1, nt=9)


def test_our_timing_layout_still_round_trips(tmp_path):
    t = np.array([[10.0, 20.0], [11.0, 21.0]])
    cio.write_timing(tmp_path / "x.csv", t)
    np.testing.assert_array_equal(cio.read_timing(tmp_path / "x.csv", nz=2, nt=2), t)
