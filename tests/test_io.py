"""CMRxRecon MATLAB v7.3 and NIfTI I/O: round trips, MATLAB layout, and clear errors for bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from cardiomm.io import cmrxrecon as cio
from cardiomm.io.nifti import Geometry, NiftiError, load_image, save_image


def _kspace(shape=(3, 2, 4, 10, 12), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def test_kspace_round_trip_values_and_axis_order(tmp_path):
    k = _kspace()
    p = tmp_path / "cine_sax.mat"
    cio.write_kspace(p, k)
    back = cio.read_kspace(p)
    assert back.dtype == np.complex64
    assert back.shape == k.shape
    np.testing.assert_array_equal(back, k)


def test_written_file_is_laid_out_as_matlab_writes_it(tmp_path):
    k = _kspace()
    p = tmp_path / "cine_sax.mat"
    cio.write_kspace(p, k)
    with open(p, "rb") as fh:
        head = fh.read(128)
    assert head.startswith(b"MATLAB 7.3 MAT-file")
    with h5py.File(p, "r") as f:
        ds = f["kspace"]
        # h5py sees the reversed MATLAB dims: MATLAB (nx, ny, nc, nz, nt) -> (nt, nz, nc, ny, nx)
        assert ds.shape == k.shape
        assert ds.dtype.names == ("real", "imag")
        assert ds.attrs["MATLAB_class"] == b"single"
        np.testing.assert_array_equal(ds[0, 1, 2]["imag"], k[0, 1, 2].imag)


def test_reads_2023_variable_names(tmp_path):
    k = _kspace()
    p = tmp_path / "old.mat"
    cio.write_mat(p, {"kspace_full": k})
    np.testing.assert_array_equal(cio.read_kspace(p), k)
    p2 = tmp_path / "sub.mat"
    cio.write_mat(p2, {"kspace_sub04": k})
    np.testing.assert_array_equal(cio.read_kspace(p2), k)


def test_mask_and_recon_round_trip(tmp_path):
    m = (np.random.default_rng(1).random((3, 10, 12)) > 0.5).astype(np.uint8)
    cio.write_mask(tmp_path / "m.mat", m)
    np.testing.assert_array_equal(cio.read_mask(tmp_path / "m.mat"), m)
    img = np.random.default_rng(2).random((3, 2, 10, 12)).astype(np.float32)
    cio.write_recon(tmp_path / "r.mat", img)
    np.testing.assert_array_equal(cio.read_recon(tmp_path / "r.mat"), img)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"\x00garbage" * 100), "not a MATLAB .mat file: it is binary data"),
    ],
)
def test_bad_files_name_the_file(tmp_path, make, reason):
    p = tmp_path / "bad.mat"
    make(p)
    with pytest.raises(cio.CMRxReconFileError, match=reason) as e:
        cio.read_kspace(p)
    assert str(p) in str(e.value)


def test_truncated_file_is_rejected(tmp_path):
    p = tmp_path / "t.mat"
    cio.write_mat(p, {"kspace": _kspace((4, 3, 4, 32, 32))}, compress=False)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(cio.CMRxReconFileError, match=str(p)):
        cio.read_kspace(p)


def test_content_errors(tmp_path):
    p = tmp_path / "x.mat"
    cio.write_mat(p, {"something": np.zeros((2, 2), np.float32)})
    with pytest.raises(cio.CMRxReconFileError, match="no k-space variable"):
        cio.read_kspace(p)
    cio.write_mat(p, {"kspace": np.zeros((2, 2, 2, 4, 4), np.float32)})
    with pytest.raises(cio.CMRxReconFileError, match="real-valued"):
        cio.read_kspace(p)
    k = _kspace()
    cio.write_mat(p, {"kdata": k})  # an unknown name: the file's only (complex) variable is the k-space
    assert np.array_equal(cio.read_kspace(p), k)
    cio.write_mat(p, {"kdata": k, "other": k})
    with pytest.raises(cio.CMRxReconFileError, match="no k-space variable"):
        cio.read_kspace(p)
    k4 = _kspace((2, 4, 8, 8))  # a single-image series (BlackBlood, T1w, T2w: MATLAB nx, ny, nc, nz): nt = 1
    cio.write_mat(p, {"kspace": k4})
    assert np.array_equal(cio.read_kspace(p), k4[None])
    cio.write_mat(p, {"kspace": _kspace((4, 8, 8))})
    with pytest.raises(cio.CMRxReconFileError, match="expected 5"):
        cio.read_kspace(p)
    k = _kspace()
    k[0, 0, 0, 0, 0] = np.nan
    cio.write_kspace(p, k)
    with pytest.raises(cio.CMRxReconFileError, match="NaN/Inf"):
        cio.read_kspace(p)
    cio.write_mat(p, {"kspace": np.zeros((2, 1, 0, 4, 4), np.complex64)})
    with pytest.raises(cio.CMRxReconFileError, match="empty axis"):
        cio.read_kspace(p)


def test_mask_must_be_binary(tmp_path):
    p = tmp_path / "m.mat"
    cio.write_mat(p, {"mask": np.full((2, 4, 4), 2, np.uint8)})
    with pytest.raises(cio.CMRxReconFileError, match="other than 0 and 1"):
        cio.read_mask(p)


def test_timing_round_trip_and_count_checks(tmp_path):
    t = np.array([[100.0, 200.0, 300.0], [110.0, 210.0, 310.0]])
    p = tmp_path / "T1map.csv"
    cio.write_timing(p, t)
    np.testing.assert_allclose(cio.read_timing(p, nz=2, nt=3), t)
    with pytest.raises(cio.CMRxReconFileError, match="3 times per slice, images have 4"):
        cio.read_timing(p, nz=2, nt=4)
    with pytest.raises(cio.CMRxReconFileError, match="does not exist"):
        cio.read_timing(tmp_path / "none.csv")


def test_failed_write_leaves_nothing(tmp_path):
    p = tmp_path / "out.mat"
    with pytest.raises(TypeError):
        cio.write_mat(p, {"x": np.zeros(3, dtype=object)})
    assert list(tmp_path.iterdir()) == []


def test_nifti_geometry_round_trip(tmp_path):
    g = Geometry(dx=1.5, dy=1.25, thickness=8.0, gap=2.0, dt=0.045)
    img = np.random.default_rng(0).random((5, 3, 10, 12)).astype(np.float32)
    p = tmp_path / "img.nii.gz"
    save_image(p, img, g)
    back, g2 = load_image(p)
    np.testing.assert_allclose(back, img)
    assert g2.dx == pytest.approx(1.5) and g2.dy == pytest.approx(1.25)
    assert g2.thickness == pytest.approx(8.0) and g2.gap == pytest.approx(2.0)
    assert g2.spacing == pytest.approx(10.0)
    assert g2.dt == pytest.approx(0.045)
    assert g2.voxel_ml == pytest.approx(1.5 * 1.25 * 10.0 / 1000)


def test_nifti_errors(tmp_path):
    with pytest.raises(NiftiError, match="does not exist"):
        load_image(tmp_path / "missing.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a nifti")
    with pytest.raises(NiftiError, match="not a readable NIfTI"):
        load_image(bad)
    with pytest.raises(NiftiError, match="expected"):
        save_image(tmp_path / "x.nii.gz", np.zeros((3, 3)), Geometry(1, 1, 1, 0))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None)
@given(shape=st.tuples(*[st.integers(1, 4)] * 3, st.integers(1, 9), st.integers(1, 9)), seed=st.integers(0, 2**16),
       key=st.sampled_from(["kspace", "kspace_full", "kus"]))
def test_kspace_round_trip_property(tmp_path_factory, shape, seed, key):
    k = _kspace(shape, seed)
    p = tmp_path_factory.mktemp("h") / "x.mat"
    cio.write_kspace(p, k, key=key)
    back = cio.read_kspace(p)
    assert back.shape == shape
    np.testing.assert_array_equal(back, k)
