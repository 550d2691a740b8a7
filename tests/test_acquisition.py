"""The Acquisition type: validated once where it is read, errors name the file; the one ACS rule."""

from __future__ import annotations

import numpy as np
import pytest

from cardiomm import acquisition
from cardiomm.acquisition import Acquisition, load_undersampled
from cardiomm.io import cmrxrecon as cio
from cardiomm.io.cmrxrecon import CMRxReconFileError
from cardiomm.sampling.masks import (
    acs_from_mask,
    acs_mask,
    acs_region,
    central_square_width,
    make_mask,
    undersample,
)

NT, NZ, NC, NY, NX, ACS = 3, 1, 2, 24, 20, 8


def _kus(mask: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = rng.standard_normal((NT, NZ, NC, NY, NX)) + 1j * rng.standard_normal((NT, NZ, NC, NY, NX))
    return undersample(k.astype(np.complex64), mask)


def test_load_undersampled_reads_the_workflow_pair(tmp_path) -> None:  # noqa: ANN001
    mask = make_mask("ktGaussian8", NT, NY, NX, seed=1, acs=ACS)
    kus = _kus(mask)
    cio.write_kspace(tmp_path / "cine_sax_kus_ktGaussian8.mat", kus, key="kus")
    cio.write_mask(tmp_path / "cine_sax_mask_ktGaussian8.mat", mask)
    acq = load_undersampled(tmp_path / "cine_sax_kus_ktGaussian8.mat", tmp_path / "cine_sax_mask_ktGaussian8.mat",
                            "ktGaussian8", ACS, {"modality": "cine"})
    assert acq.shape == (NT, NZ, NC, NY, NX) and acq.kspace.dtype == np.complex64
    np.testing.assert_array_equal(acq.kspace, kus)
    np.testing.assert_array_equal(acq.mask, mask)
    np.testing.assert_array_equal(acq.acs, acs_mask("ktGaussian8", NY, NX, ACS))
    assert acq.meta["modality"] == "cine" and acq.source.endswith("cine_sax_kus_ktGaussian8.mat")


def test_bad_files_are_named(tmp_path) -> None:  # noqa: ANN001
    mask = make_mask("Uniform4", NT, NY, NX, seed=0, acs=ACS)
    kus = _kus(mask)
    kus[0, 0, 0, 0, 0] = np.nan
    cio.write_kspace(tmp_path / "nan_kus.mat", kus, key="kus")
    cio.write_mask(tmp_path / "m.mat", mask)
    with pytest.raises(CMRxReconFileError, match="nan_kus.mat.*NaN"):
        load_undersampled(tmp_path / "nan_kus.mat", tmp_path / "m.mat", "Uniform4", ACS)
    cio.write_kspace(tmp_path / "ok_kus.mat", _kus(mask), key="kus")
    holed = mask.copy()
    holed[1, NY // 2] = 0
    cio.write_mask(tmp_path / "holed_mask.mat", holed)
    with pytest.raises(ValueError, match=r"holed_mask.mat: ACS region .* frame\(s\) \[1\]"):
        load_undersampled(tmp_path / "ok_kus.mat", tmp_path / "holed_mask.mat", "Uniform4", ACS)
    cio.write_mask(tmp_path / "narrow_mask.mat", mask[:, :, :-1])
    with pytest.raises(ValueError, match="narrow_mask.mat: mask"):
        load_undersampled(tmp_path / "ok_kus.mat", tmp_path / "narrow_mask.mat", "Uniform4", ACS)


def test_a_one_frame_mask_is_broadcast_and_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    mask = make_mask("Uniform4", 1, NY, NX, seed=0, acs=ACS)
    calls = []
    real = acquisition.check_mask
    monkeypatch.setattr(acquisition, "check_mask", lambda *a, **k: calls.append(a) or real(*a, **k))
    acq = Acquisition.from_arrays(_kus(mask), mask[0], "Uniform4", ACS)
    assert acq.mask.shape == (NT, NY, NX) and (acq.mask == mask).all()
    assert len(calls) == 1


def test_the_one_acs_rule() -> None:
    for name in ("Uniform8", "ktGaussian8", "ktRadial8", "ktUniform4", "AccFactor04"):
        m = make_mask(name, NT, NY, NX, seed=2, acs=ACS)
        region = acs_region(name, m, ACS)
        np.testing.assert_array_equal(region, acs_mask(name, NY, NX, ACS))
        # measured on the mask, the region is the same (the random patterns may sample more around it)
        assert (acs_from_mask(m, ACS) == region).all()
        # a mask name the pattern grammar does not know: measured on the mask
        np.testing.assert_array_equal(acs_region("site_custom_mask", m, ACS), acs_from_mask(m, ACS))
        assert central_square_width(region) == ACS
    assert central_square_width(np.zeros((NY, NX), dtype=bool)) == 0
