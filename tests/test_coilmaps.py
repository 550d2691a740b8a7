"""The coil-maps job: ESPIRiT once per distinct ACS, shared by every mask and classical method, equal to what each
reconstruction job would compute itself."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cardiomm.acquisition import load_undersampled
from cardiomm.cohort import Subject
from cardiomm.io import cmrxrecon as cio
from cardiomm.recon.classical.espirit import slice_maps
from cardiomm.recon.classical.sense import sense_recon_series
from cardiomm.recon.classical.series import CSParams, recon_series
from cardiomm.sampling.masks import make_mask, undersample
from cardiomm.stages import recon as recon_stage
from cardiomm.workflow import key

NT, NZ, NC, NY, NX, ACS = 4, 2, 4, 32, 28, 12
MASKS = ("Uniform4", "ktGaussian8", "ktRadial8")


def _series(tmp: Path, seed: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    """Undersampled pairs of one cine series for every mask of :data:`MASKS` (the same fully sampled data), the
    coil-maps job's outputs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:NY, :NX]
    img = np.exp(-((yy - NY / 2) ** 2 + (xx - NX / 2) ** 2) / 60.0)
    coils = np.stack([np.exp(1j * c + ((yy - c * 5) ** 2) / -400.0) for c in range(NC)])
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coils[None, None] * img, axes=(-2, -1)), norm="ortho"),
                        axes=(-2, -1))
    k = np.broadcast_to(k, (NT, NZ, NC, NY, NX)) + 0.01 * (rng.standard_normal((NT, NZ, NC, NY, NX))
                                                            + 1j * rng.standard_normal((NT, NZ, NC, NY, NX)))
    inputs, outputs = {}, {}
    for mk in MASKS:
        m = make_mask(mk, NT, NY, NX, seed=3, acs=ACS)
        inputs[key("cine", mk, "kus")] = str(tmp / f"cine_sax_kus_{mk}.mat")
        inputs[key("cine", mk, "mask")] = str(tmp / f"cine_sax_mask_{mk}.mat")
        cio.write_kspace(inputs[key("cine", mk, "kus")], undersample(k.astype(np.complex64), m), key="kus")
        cio.write_mask(inputs[key("cine", mk, "mask")], m)
        outputs[key("cine", mk, "maps")] = str(tmp / "maps" / f"cine_sax_{mk}.npy")
    return inputs, outputs


def _acq(inputs: dict[str, str], mk: str, maps: str | None = None):  # noqa: ANN202
    return load_undersampled(inputs[key("cine", mk, "kus")], inputs[key("cine", mk, "mask")], mk, ACS,
                             {"modality": "cine"}, maps_path=maps)


@pytest.fixture()
def subject(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Subject:
    monkeypatch.setattr("cardiomm.io.releases.acs_lines", lambda release: ACS)
    return Subject("P001", tmp_path, "test", meta={})


def test_maps_equal_each_job_s_own_and_are_shared(tmp_path: Path, subject: Subject) -> None:
    inputs, outputs = _series(tmp_path)
    recon_stage.coilmaps(subject, inputs, outputs)
    for mk in MASKS:
        # what the reconstruction job computes without the coil-maps job
        own = np.stack([slice_maps(_acq(inputs, mk), z) for z in range(NZ)])
        shared = np.load(outputs[key("cine", mk, "maps")])
        assert shared.shape == (NZ, NC, NY, NX) and shared.dtype == np.complex64
        np.testing.assert_array_equal(shared, own)
    # the masks share their ACS data (same central square): one file, hard-linked
    inodes = {os.stat(outputs[key("cine", mk, "maps")]).st_ino for mk in MASKS}
    assert len(inodes) == 1


def test_different_acs_data_get_their_own_maps(tmp_path: Path, subject: Subject) -> None:
    inputs, outputs = _series(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    inputs2, _ = _series(other, seed=1)  # other noise: other ACS data
    inputs[key("cine", MASKS[1], "kus")] = inputs2[key("cine", MASKS[1], "kus")]
    recon_stage.coilmaps(subject, inputs, outputs)
    a, b = (outputs[key("cine", mk, "maps")] for mk in MASKS[:2])
    assert os.stat(a).st_ino != os.stat(b).st_ino
    np.testing.assert_array_equal(np.load(b), np.stack([slice_maps(_acq(inputs, MASKS[1]), z) for z in range(NZ)]))
    assert not np.array_equal(np.load(a), np.load(b))


def test_reconstructions_with_shared_maps_are_unchanged(tmp_path: Path, subject: Subject) -> None:
    inputs, outputs = _series(tmp_path)
    recon_stage.coilmaps(subject, inputs, outputs)
    mk = "ktGaussian8"
    with_maps, without = _acq(inputs, mk, outputs[key("cine", mk, "maps")]), _acq(inputs, mk)
    np.testing.assert_array_equal(sense_recon_series(with_maps, max_iter=5), sense_recon_series(without, max_iter=5))
    p = CSParams.from_dict("kttv", {"max_iter": 5})
    np.testing.assert_array_equal(recon_series("kttv", with_maps, p), recon_series("kttv", without, p))


def test_bad_maps_are_named(tmp_path: Path, subject: Subject) -> None:
    inputs, outputs = _series(tmp_path)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((NZ, NC, NY, NX - 1), np.complex64))
    with pytest.raises(ValueError, match=r"bad.npy: coil maps must be complex"):
        _acq(inputs, MASKS[0], str(bad))
    np.save(bad, np.full((NZ, NC, NY, NX), np.nan, np.complex64))
    with pytest.raises(ValueError, match=r"bad.npy: coil maps contain"):
        _acq(inputs, MASKS[0], str(bad))
    bad.write_text("not numpy")
    with pytest.raises(ValueError, match=r"bad.npy: not a readable .npy"):
        _acq(inputs, MASKS[0], str(bad))
