"""Provenance: outputs carry the code version and config hash; the manifest lists software and checkpoints."""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np

from cardiomm import provenance
from cardiomm.io.cmrxrecon import write_recon
from cardiomm.io.nifti import Geometry, load_image, save_image


def test_config_hash_ignores_key_order_and_sees_values():
    a = {"x": 1, "y": {"a": [1, 2], "b": "c"}}
    b = {"y": {"b": "c", "a": [1, 2]}, "x": 1}
    assert provenance.config_hash(a) == provenance.config_hash(b)
    assert provenance.config_hash(a) != provenance.config_hash({**a, "x": 2})


def test_outputs_are_stamped_inside_a_job_only(tmp_path):
    cfg = {"cohort": "t", "seed": 1}
    st = provenance.activate(cfg)
    try:
        write_recon(tmp_path / "r.mat", np.zeros((1, 1, 4, 4), np.float32))
        save_image(tmp_path / "r.nii.gz", np.zeros((1, 1, 4, 4), np.float32), Geometry(1, 1, 8, 2))
    finally:
        provenance.activate(None)
    with h5py.File(tmp_path / "r.mat", "r") as f:
        assert f.attrs["config_sha256"].decode() == provenance.config_hash(cfg)[:16]
        assert f.attrs["cardiomm_version"].decode() == st["cardiomm_version"]
    descrip = nib.load(str(tmp_path / "r.nii.gz")).header["descrip"].tobytes().decode()
    assert f"cfg={provenance.config_hash(cfg)[:12]}" in descrip
    _, g = load_image(tmp_path / "r.nii.gz")  # geometry still parsed from the longer description
    assert g.thickness == 8 and g.gap == 2
    write_recon(tmp_path / "plain.mat", np.zeros((1, 1, 4, 4), np.float32))
    with h5py.File(tmp_path / "plain.mat", "r") as f:
        assert "config_sha256" not in f.attrs


def test_manifest_lists_software_and_checkpoint_hashes(tmp_path):
    ck = tmp_path / "m.pt"
    ck.write_bytes(b"weights")
    m = provenance.manifest({"a": 1}, {"model": str(ck), "gone": str(tmp_path / "none.pt")})
    assert m["checkpoints"]["model"]["sha256"] == provenance.file_sha256(ck)
    assert m["checkpoints"]["gone"]["sha256"] == "missing"
    assert m["software"]["torch"] != "not installed"
    assert m["cardiomm_version"].startswith("0.")


def test_model_folder_hash_covers_every_file(tmp_path):
    from cardiomm.provenance import file_sha256, path_sha256

    d = tmp_path / "bundle"
    (d / "configs").mkdir(parents=True)
    (d / "configs" / "inference.json").write_text("{}")
    (d / "model.pt").write_bytes(b"weights")
    h = path_sha256(d)
    assert path_sha256(d) == h and len(h) == 64
    assert path_sha256(d / "model.pt") == file_sha256(d / "model.pt")
    (d / "model.pt").write_bytes(b"weightz")
    h2 = path_sha256(d)
    assert h2 != h
    (d / "model.pt").rename(d / "other.pt")
    assert path_sha256(d) != h2  # a rename changes it too
