"""Bad input at the workflow's entry points: one clear error naming the file/key and the reason, a non-zero
exit from Snakemake, and no partial output left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cardiomm.acquisition import Acquisition
from cardiomm.cohort import Subject, subject_from_row
from cardiomm.io import cmrxrecon as cio
from cardiomm.io.nifti import Geometry
from cardiomm.phantom.generate import PhantomConfig, cohort_specs, write_subject
from cardiomm.recon.learned.architectures import build_model
from cardiomm.recon.learned.model_files import CheckpointError, load_model, save_checkpoint
from cardiomm.segmentation.infer import segment_series
from cardiomm.segmentation.network import build_segmenter
from cardiomm.segmentation.training_task import SegmenterCheckpointError, load_segmenter, save_segmenter
from cardiomm.stages import recon as recon_stage
from cardiomm.stages import undersample as undersample_stage
from cardiomm.workflow import ConfigError, key, plan_from_config

REPO = Path(__file__).resolve().parents[1]
SMALL = PhantomConfig(nx=64, ny=56, dx=4.5, dy=4.5, nt=3, nz=4, gap=12.0, coils_raw=(4,), coils=4,
                      counts={"train": 0, "val": 0, "test": 1, "external": 0}, seed=5)


@pytest.fixture(scope="module")
def real_root(tmp_path_factory):
    """A 'real data' cohort (no subjects.csv, no ground truth) made from one phantom subject."""
    root = tmp_path_factory.mktemp("real")
    spec = cohort_specs(SMALL)[0]
    write_subject(spec, SMALL, root)
    import shutil

    shutil.rmtree(root / "GroundTruth")
    return root


def _subject(root: Path) -> Subject:
    row = {"subject": "P001", "split": "test", "dx_mm": "4.5", "dy_mm": "4.5", "thickness_mm": "8",
           "gap_mm": "12", "frame_interval_s": "0.1", "map_spacing_mm": "20"}
    return subject_from_row(root, row)


def _copy_cohort(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


# ------------------------------------------------------------------------------------------ k-space files


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 3]), "truncated"),
        (lambda p: p.write_bytes(b"\x89HDF" + bytes(200)), "not a readable MATLAB"),
        (lambda p: cio.write_mat(p, {"image": np.zeros((2, 2), np.float32)}), "no k-space variable"),
        (lambda p: cio.write_mat(p, {"kspace": np.zeros((3, 4, 4, 56, 64), np.float32)}), "real-valued"),
        (lambda p: cio.write_mat(p, {"kspace": np.zeros((4, 56, 64), np.complex64)}), "expected 5"),
        (lambda p: cio.write_mat(p, {"kspace": np.zeros((3, 4, 0, 56, 64), np.complex64)}), "empty axis"),
        (lambda p: cio.write_kspace(p, np.full((3, 4, 4, 56, 64), np.nan, np.complex64)), "NaN/Inf"),
    ],
)
def test_undersample_stage_rejects_bad_kspace(real_root, tmp_path, corrupt, message):
    root = _copy_cohort(real_root, tmp_path / "c")
    s = _subject(root)
    bad = s.kspace_path("cine")
    corrupt(bad)
    out_m, out_k = [str(tmp_path / "m.mat")], [str(tmp_path / "k.mat")]
    outputs = {key("cine", "Uniform8", "mask"): out_m[0], key("cine", "Uniform8", "kus"): out_k[0]}
    with pytest.raises(cio.CMRxReconFileError, match=message) as e:
        undersample_stage.undersample(s, 7, outputs)
    assert str(bad) in str(e.value)
    assert not Path(out_m[0]).exists() and not Path(out_k[0]).exists()


def test_recon_rejects_mask_of_wrong_shape_and_missing_acs(real_root, tmp_path):
    s = _subject(real_root)
    k = cio.read_kspace(s.kspace_path("cine"))
    kus_p, mask_p = tmp_path / "kus.mat", tmp_path / "mask.mat"
    cio.write_kspace(kus_p, k, key="kus")
    outs = {key("cine", "mat"): str(tmp_path / "r.mat"), key("cine", "nii"): str(tmp_path / "r.nii.gz")}
    ins = {key("cine", "mask"): str(mask_p), key("cine", "kus"): str(kus_p)}
    cio.write_mask(mask_p, np.ones((k.shape[0], k.shape[3] + 2, k.shape[4]), np.uint8))
    with pytest.raises(ValueError, match=f"{mask_p}.*does not match"):
        recon_stage.reconstruct("zerofilled", s, "Uniform8", ins, outs)
    cio.write_mask(mask_p, np.zeros((k.shape[0], k.shape[3], k.shape[4]), np.uint8))
    with pytest.raises(ValueError, match=f"{mask_p}.*ACS region"):
        recon_stage.reconstruct("zerofilled", s, "Uniform8", ins, outs)
    assert not any(Path(o).exists() for o in outs.values())


def test_sense_rejects_too_small_acs(real_root):
    from cardiomm.recon.classical.sense import sense_recon_series

    k = cio.read_kspace(_subject(real_root).kspace_path("cine"))
    mask = np.zeros((k.shape[0], k.shape[3], k.shape[4]), np.uint8)
    mask[:, ::4] = 1
    c = k.shape[3] // 2
    mask[:, c - 2:c + 2] = 1
    with pytest.raises(ValueError, match="ESPIRiT needs at least 8"):
        sense_recon_series(Acquisition.from_arrays(k * mask[:, None, None], mask, "Uniform4", 4))


# ------------------------------------------------------------------------------------------ mapping timing


def test_mapping_without_timing_or_with_mismatched_counts(real_root, tmp_path):
    s = _subject(_copy_cohort(real_root, tmp_path / "c"))
    t = s.timing_path("t2map")
    t.unlink()
    with pytest.raises(cio.CMRxReconFileError, match=f"{t}.*does not exist"):
        cio.read_timing(t)
    cio.write_timing(t, np.array([[0.0, 35.0]] * SMALL.n_map_slices))
    with pytest.raises(cio.CMRxReconFileError, match=f"{t}.*2 times per slice, images have 3"):
        cio.read_timing(t, nz=SMALL.n_map_slices, nt=3)


# ------------------------------------------------------------------------------------------ images / segmentation


def test_segmentation_rejects_empty_nan_and_wrong_dims():
    model = build_segmenter("small").eval()
    with pytest.raises(ValueError, match="empty.nii"):
        segment_series(model, np.zeros((1, 2, 32, 32), np.float32), source="empty.nii")
    bad = np.random.default_rng(0).random((1, 2, 32, 32)).astype(np.float32)
    bad[0, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="nan.nii"):
        segment_series(model, bad, source="nan.nii")
    with pytest.raises(ValueError, match="3d.nii"):
        segment_series(model, np.ones((2, 32, 32), np.float32), source="3d.nii")


def test_non_cardiac_image_is_flagged_by_qc_not_dropped():
    from cardiomm.segmentation.qc import qc_case

    ok, reason = qc_case(np.zeros((4, 5, 32, 32), np.uint8), Geometry(2.0, 2.0, 8.0, 2.0, 0.05), "cine")
    assert not ok and reason


def test_quantify_flags_a_segmentation_without_myocardium(tmp_path):
    from cardiomm.quantify.volumes import ventricular_phenotypes

    lab = np.zeros((3, 4, 32, 32), np.uint8)
    with pytest.raises(ValueError, match="LV blood"):
        ventricular_phenotypes(lab, Geometry(2.0, 2.0, 8.0, 2.0, 0.05))
    with pytest.raises(ValueError, match="1 frame"):
        ventricular_phenotypes(np.ones((1, 4, 32, 32), np.uint8), Geometry(2.0, 2.0, 8.0, 2.0, 0.05))
    from cardiomm.quantify.wall_thickness import wall_thickness

    blood_only = np.zeros((4, 32, 32), np.uint8)
    blood_only[:, 10:20, 10:20] = 1
    with pytest.raises(ValueError, match="myocardium"):
        wall_thickness(blood_only, Geometry(2.0, 2.0, 8.0, 2.0, 0.05))


# ------------------------------------------------------------------------------------------ checkpoints


def test_checkpoint_for_another_architecture_or_corrupt(tmp_path):
    p = tmp_path / "varnet.pt"
    save_checkpoint(p, build_model("varnet", {"cascades": 1, "features": 4}))
    with pytest.raises(CheckpointError, match=f"{p}.*"):
        load_model(p, arch="cardiomm")
    seg = tmp_path / "seg.pt"
    save_segmenter(build_segmenter("small"), seg)
    with pytest.raises(CheckpointError, match=str(seg)):
        load_model(seg, arch="cardiomm")
    with pytest.raises(SegmenterCheckpointError, match=str(p)):
        load_segmenter(p)
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=str(p)):
        load_model(p, arch="varnet")
    torch.save({"nonsense": 1}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="x.pt"):
        load_model(tmp_path / "x.pt")


# ------------------------------------------------------------------------------------------ configuration


def _base_config() -> dict:
    return yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update(masks=["Spiral8"]), "invalid mask name"),
        (lambda c: c.update(masks=["Uniform40"]), "outside"),
        (lambda c: c["data"].update(synthetic=False, root="/nonexistent/path"), "not a directory"),
        (lambda c: c.update(eval_splits=["val"]), "no subjects"),
        (lambda c: c["models"].pop("cardiomm"), "models.cardiomm is missing"),
    ],
)
def test_config_errors_from_the_plan(mutate, message):
    cfg = _base_config()
    mutate(cfg)
    with pytest.raises(ConfigError, match=message):
        plan_from_config(cfg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("masks=['Spiral8']", "masks"),
        ("masks=['Uniform40']", "masks"),
        ("modalities=['diffusion']", "modalities"),
        ("methods=['grappa']", "methods"),
    ],
)
def test_snakemake_rejects_schema_violations(tmp_path, override, message):
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(REPO / "config" / "tiny.yaml"), "-n", "--config", override],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "validat" in out.lower() or "ConfigError" in out
    assert message in out


def test_snakemake_stops_on_a_corrupt_file_and_leaves_no_output(real_root, tmp_path):
    """A real-data run whose k-space file is corrupt: non-zero exit, the file named, no outputs of that job."""
    root = _copy_cohort(real_root, tmp_path / "data")
    bad = _subject(root).kspace_path("cine")
    bad.write_bytes(bad.read_bytes()[:5000])
    cfg = _base_config()
    cfg["cohort"] = "realbad"
    cfg["data"] = {"root": str(root), "synthetic": False,
                   "defaults": {"dx_mm": 4.5, "dy_mm": 4.5, "thickness_mm": 8, "gap_mm": 12, "frame_interval_s": 0.1,
                                "map_spacing_mm": 20}}
    cfg["models"] = {k: str(REPO / "config" / "tiny.yaml") for k in cfg["models"]}  # existence only; unused here
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(tmp_path / "config.yaml"), "--cores", "1",
         "results/realbad/undersampled/P001/cine_sax_mask_Uniform8.mat"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "realbad" / "undersample" / "P001.log").read_text()
    assert str(bad) in log and "truncated" in log
    outdir = tmp_path / "results" / "realbad" / "undersampled" / "P001"
    assert not outdir.exists() or not any(outdir.iterdir())


def test_real_cohort_skips_subjects_missing_a_modality(real_root, tmp_path, capsys):
    import shutil

    root = _copy_cohort(real_root, tmp_path / "c")
    shutil.copytree(root / "MultiCoil" / "Cine" / "TrainingSet" / "FullSample" / "P001",
                    root / "MultiCoil" / "Cine" / "TrainingSet" / "FullSample" / "P002")
    cfg = _base_config()
    cfg["data"] = {"root": str(root), "synthetic": False,
                   "defaults": {"dx_mm": 4.5, "dy_mm": 4.5, "thickness_mm": 8, "gap_mm": 12, "frame_interval_s": 0.1}}
    plan = plan_from_config(cfg)
    # P002 has cine only: evaluated for cine, skipped for the others (a logged line and the reason), never whole
    assert [s.id for s in plan.subjects] == ["P001", "P002"]
    assert plan.mods("P002") == ["cine"] and plan.mods("P001") == plan.modalities != ["cine"]
    err = capsys.readouterr().err
    assert "subject P002" in err and "skipping subject" not in err
    for mod in plan.modalities[1:]:
        assert f"{mod} skipped: missing" in plan.skipped["P002"] and f"{mod} skipped" in err
    assert "P001" not in plan.skipped
    # every per-subject entry covers only the subject's modalities; one rule group per modality set
    assert all(k.startswith("cine__") for k in plan.undersample_outputs("P002"))
    assert not plan.method_maps("reference", "P002") and plan.method_maps("reference", "P001")
    assert plan.kspace_files("P002") == [str(plan.subject("P002").kspace_path("cine"))]
    groups = {tuple(ids): mods for _, ids, mods in plan.groups()}
    assert groups[("P002",)] == ["cine"] and len({suffix for suffix, _, _ in plan.groups()}) == 2
    cfg["modalities"] = ["cine"]
    plan = plan_from_config(cfg)
    assert [s.id for s in plan.subjects] == ["P001", "P002"] and [g[0] for g in plan.groups()] == [""]


def test_figures_pick_a_segmented_subject_and_skip_overlays_without_one():
    """A real tree whose richest subject has image-only series (long-axis views) alone: the figure subject is one
    with a segmented modality; with no segmented modality at all, no segmentation overlays are asked for."""
    plan = plan_from_config(_base_config())
    a, b = plan.subjects[0].id, plan.subjects[1].id
    present = {a: ["cine"], b: ["cine_lax", "cine_lax_2ch", "cine_lax_4ch"]}
    plan.mods = lambda sid, mods=None: present.get(sid, [])
    assert plan.figure_subject == a and plan.figure_modalities() == ["cine"]
    assert "segmentation/typical" in {k.replace("__", "/") for k in plan.figure_outputs()}
    present = {a: ["cine_lax"], b: ["cine_lax", "cine_lax_2ch"]}
    assert plan.figure_subject == b
    assert not [k for k in plan.figure_outputs() if k.startswith("segmentation")]
    assert not [k for k in plan.figure_inputs() if k.startswith("seg")]
