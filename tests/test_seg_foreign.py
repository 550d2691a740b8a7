"""Foreign segmenters: a MONAI bundle folder and an nnU-Net v2 model folder, loaded by their own libraries.

The model folders are written by :mod:`seg_model_folders` (tiny widths, random weights), so these tests check
the loading code, geometry and label handling, not segmentation quality.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from cardiomm.cohort import Subject
from cardiomm.io.nifti import Geometry, load_image, save_image
from cardiomm.segmentation.infer import keep_largest_components
from cardiomm.segmentation.labels import LabelError, from_acdc
from cardiomm.segmentation.segmenters import SegmenterConfigError, load_segmenter_from_config
from cardiomm.stages import segment as segment_stage
from cardiomm.workflow import key

sys.path.insert(0, str(Path(__file__).parent))
from seg_model_folders import BUNDLE_CHANNELS, write_bundle, write_nnunet_folder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GEOM = Geometry(dx=1.5, dy=1.5, thickness=8.0, gap=2.0, dt=0.04)
HAVE_NNUNET = importlib.util.find_spec("nnunetv2") is not None
NO_NNUNET = "nnunetv2 not installed (optional): pip install --no-deps -r requirements-nnunet.txt"


def synthetic_series(nt: int = 2, nz: int = 3, ny: int = 40, nx: int = 52, seed: int = 0) -> np.ndarray:
    """(nt, nz, ny, nx) float32 magnitude: a bright disc in a darker ring over noise (not square, ny != nx)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:ny, :nx]
    r = np.hypot(yy - ny / 2, xx - nx / 2 - 4)
    img = np.where(r < 8, 1.0, np.where(r < 12, 0.3, 0.1))
    return (img[None, None] * (1 + 0.1 * np.arange(nt))[:, None, None, None]
            + 0.05 * rng.random((nt, nz, ny, nx))).astype(np.float32)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("bundle") / "ventricular_short_axis_3label")


def _bundle_cfg(path: Path, **kw) -> dict:
    return {"segmentation": {"kind": "monai_bundle", "path": str(path), **kw}}


def reference_bundle_labels(root: Path, volume: np.ndarray) -> np.ndarray:
    """Independent reading of the bundle's pipeline on one frame ``(nz, ny, nx)``: min-max over the volume,
    each (x, y) slice zero-padded centrally to 256x256 (SliceInferer/sliding window), network, crop, argmax."""
    from monai.networks.nets import UNet

    net = UNet(spatial_dims=2, in_channels=1, out_channels=4, channels=BUNDLE_CHANNELS, strides=[2, 2, 2, 2],
               num_res_units=2)
    net.load_state_dict(torch.load(root / "models" / "model.pt", weights_only=True))
    net.eval()
    v = (volume - volume.min()) / (volume.max() - volume.min())
    out = []
    for sl in v:
        s = torch.from_numpy(np.ascontiguousarray(sl.T))[None, None]  # (1, 1, nx, ny)
        dx, dy = 256 - s.shape[2], 256 - s.shape[3]
        s = F.pad(s, (dy // 2, dy - dy // 2, dx // 2, dx - dx // 2))
        with torch.inference_mode():
            logits = net(s)[0]
        logits = logits[:, dx // 2: dx // 2 + sl.shape[1], dy // 2: dy // 2 + sl.shape[0]]
        out.append(logits.argmax(0).numpy().T)
    return np.stack(out).astype(np.uint8)


def test_schema_defaults_are_the_segmenter_defaults() -> None:
    import dataclasses
    import json

    from cardiomm.segmentation.segmenters import KINDS, LABEL_CHOICES, SegmenterConfig

    props = json.loads((REPO / "cardiomm" / "schema" / "config.schema.json").read_text())["properties"]["segmentation"]
    assert tuple(props["properties"]["kind"]["enum"]) == KINDS
    assert tuple(props["properties"]["labels"]["enum"]) == LABEL_CHOICES
    for f in dataclasses.fields(SegmenterConfig):
        default = props["properties"][f.name]["default"]
        assert (tuple(default) if isinstance(default, list) else default) == f.default, f.name
    cfg = SegmenterConfig.from_config({"models": {"segmentation": "w.pt"}})  # no segmentation key: builtin
    assert (cfg.kind, cfg.path) == ("builtin", "w.pt")


# ------------------------------------------------------------------------------------------------ MONAI bundle


def test_bundle_matches_an_independent_reading_of_its_pipeline(bundle: Path) -> None:
    seg = load_segmenter_from_config(_bundle_cfg(bundle))
    img = synthetic_series()
    lab = seg.segment(img, GEOM, "cine", source="cine.nii.gz")
    assert lab.shape == img.shape and lab.dtype == np.uint8
    ref = keep_largest_components(np.stack([reference_bundle_labels(bundle, v) for v in img]))
    assert len(np.unique(ref)) > 1  # a random network still separates classes: the comparison is not vacuous
    np.testing.assert_array_equal(lab, ref)


def test_bundle_labels_follow_its_metadata(bundle: Path, tmp_path: Path) -> None:
    swapped = write_bundle(tmp_path / "swapped", channel_def={"0": "background", "1": "rv_pool", "2": "myocardium",
                                                                  "3": "lv_pool"})
    img = synthetic_series(nt=1)
    a = load_segmenter_from_config(_bundle_cfg(bundle)).segment(img, GEOM, "cine")
    b = load_segmenter_from_config(_bundle_cfg(swapped)).segment(img, GEOM, "cine")
    assert {1, 3} <= set(np.unique(a).tolist())
    np.testing.assert_array_equal(b, np.array([0, 3, 2, 1], np.uint8)[a])  # same weights, names swapped
    # the config's declaration overrides the metadata's: values declared as ours are taken as they are
    c = load_segmenter_from_config(_bundle_cfg(swapped, labels="ours")).segment(img, GEOM, "cine")
    np.testing.assert_array_equal(c, a)


def test_bundle_resampling_to_a_pixel_size_and_back(bundle: Path) -> None:
    img = synthetic_series(nt=1)
    native = load_segmenter_from_config(_bundle_cfg(bundle)).segment(img, GEOM, "cine")
    same = load_segmenter_from_config(_bundle_cfg(bundle, spacing_mm=GEOM.dx)).segment(img, GEOM, "cine")
    np.testing.assert_array_equal(same, native)  # resampling to its own pixel size is the identity
    coarse = load_segmenter_from_config(_bundle_cfg(bundle, spacing_mm=3.0))
    prob = coarse.volume_probabilities(img[0], GEOM, "x")
    assert prob.shape == (4, *img.shape[1:])  # back on our grid
    np.testing.assert_allclose(prob.sum(0), 1.0, atol=1e-4)
    # wider than the bundle's 256x256 window (a CMRxRecon readout with oversampling is 512): tiled, then stitched
    wide = np.tile(img[0, :1], (1, 1, 6))  # (1, 40, 312)
    prob = load_segmenter_from_config(_bundle_cfg(bundle)).volume_probabilities(wide, GEOM, "wide")
    assert prob.shape == (4, 1, 40, 312)
    np.testing.assert_allclose(prob.sum(0), 1.0, atol=1e-4)


def test_bundle_mapping_series_one_label_frame(bundle: Path) -> None:
    lab = load_segmenter_from_config(_bundle_cfg(bundle)).segment(synthetic_series(nt=3), GEOM, "mapping")
    assert lab.shape == (1, 3, 40, 52)


def test_bundle_errors_name_the_file(bundle: Path, tmp_path: Path) -> None:
    broken = write_bundle(tmp_path / "noweights")
    (broken / "models" / "model.pt").unlink()
    with pytest.raises(SegmenterConfigError, match="model.pt"):
        load_segmenter_from_config(_bundle_cfg(broken))
    with pytest.raises(SegmenterConfigError, match="no configs/metadata.json"):
        load_segmenter_from_config(_bundle_cfg(broken / "configs"))
    odd = write_bundle(tmp_path / "odd", channel_def={"0": "background", "1": "liver", "2": "myocardium", "3": "rv"})
    with pytest.raises(LabelError, match="metadata.json.*liver"):
        load_segmenter_from_config(_bundle_cfg(odd))
    with pytest.raises(SegmenterConfigError, match="segmentation.kind"):
        load_segmenter_from_config({"segmentation": {"kind": "sam", "path": str(bundle)}})
    with pytest.raises(SegmenterConfigError, match="not a folder"):
        load_segmenter_from_config(_bundle_cfg(bundle / "configs" / "metadata.json"))


def _segment_stage(tmp: Path, segmentation: dict) -> tuple[pd.DataFrame, dict]:
    """Run :func:`cardiomm.stages.segment.segment` (the rule's function) on a synthetic cine + T1 map of one subject."""
    subj = Subject("P900", tmp / "data", "test", geometry=GEOM)
    recon, seg = {}, {}
    for mod, nt in (("cine", 3), ("t1map", 2)):
        recon[(mod, "full")] = tmp / f"recon_{mod}.nii.gz"
        seg[(mod, "full")] = tmp / f"seg_{mod}.nii.gz"
        save_image(recon[(mod, "full")], synthetic_series(nt=nt, nz=2), GEOM)
    segment_stage.segment(subj, "reference", {key(*k): str(v) for k, v in recon.items()},
                   {key(*k): str(v) for k, v in seg.items()}, str(REPO / "missing.pt"), str(tmp / "seg.csv"),
                   segmentation=segmentation)
    return pd.read_csv(tmp / "seg.csv"), seg


def test_bundle_through_the_segment_stage(bundle: Path, tmp_path: Path) -> None:
    table, seg = _segment_stage(tmp_path, {"kind": "monai_bundle", "path": str(bundle)})
    assert list(table["modality"]) == ["cine", "t1map"] and table["qc_reason"].notna().all()
    lab, geom = load_image(seg[("cine", "full")])
    assert lab.shape == (3, 2, 40, 52) and (geom.dx, geom.dy, geom.spacing) == (GEOM.dx, GEOM.dy, GEOM.spacing)
    assert load_image(seg[("t1map", "full")])[0].shape == (1, 2, 40, 52)
    # random weights: QC must reject the result, with a reason, rather than pass it to the agreement
    assert not table["qc_pass"].any()


def test_snakemake_uses_the_bundle_folder_as_the_model_input(bundle: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", str(REPO / "config" / "tiny.yaml"),
                           "--config", f"segmentation={{kind: monai_bundle, path: {bundle}}}",
                           f"models={{segmentation: {REPO}/cardiomm/weights/segmentation.pt, cardiomm: "
                           f"{REPO}/cardiomm/weights/cardiomm.pt, varnet: {REPO}/cardiomm/weights/varnet.pt}}",
                           "--cores", "1", "segmentation_table"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # each segment job's message names its model input (rules/segment.smk)
    inputs = [ln for ln in proc.stdout.splitlines() if "[segment]" in ln]
    assert inputs and all(ln.rstrip().endswith(f"segmenter {bundle}") for ln in inputs)  # every job: the folder
    assert not any("segmentation.pt" in ln for ln in inputs)


@pytest.mark.slow
def test_workflow_segments_one_subject_with_the_bundle(bundle: Path, tmp_path: Path) -> None:
    """A real Snakemake run (synthesize -> reference -> segment_reference) of one tiny subject with the bundle."""
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["models"] = {k: str(REPO / v) for k, v in cfg["models"].items()}
    cfg["segmentation"] = {"kind": "monai_bundle", "path": str(bundle)}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/tiny/seg/reference/P001.csv"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "--cores", "2", target],
                          capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = pd.read_csv(tmp_path / target)
    assert sorted(table["modality"]) == sorted(cfg["modalities"]) and (table["mask"] == "full").all()
    assert table["qc_reason"].fillna("").str.len().gt(0).all()  # random weights: every case flagged, with reasons
    assert {"dice_lv_blood", "hd95_mm_rv_blood"} <= set(table.columns)  # scored against the phantom's labels
    log = (tmp_path / "logs" / "tiny" / "segment" / "reference" / "P001.log").read_text()
    assert f"monai_bundle:{bundle}" in log
    cine, _ = load_image(tmp_path / "results/tiny/seg/reference/full/P001/cine_seg.nii.gz")
    ref, _ = load_image(tmp_path / "results/tiny/recon/reference/full/P001/cine.nii.gz")
    assert cine.shape == ref.shape


# ------------------------------------------------------------------------------------------------ nnU-Net v2


@pytest.fixture(scope="module")
def nnunet_folder(tmp_path_factory) -> Path:
    if not HAVE_NNUNET:
        pytest.skip(NO_NNUNET)
    return write_nnunet_folder(tmp_path_factory.mktemp("nnunet") / "nnUNetTrainer__nnUNetPlans__2d")


def test_nnunet_predictor_segments_on_our_grid_with_acdc_labels(nnunet_folder: Path) -> None:
    seg = load_segmenter_from_config({"segmentation": {"kind": "nnunetv2", "path": str(nnunet_folder)}})
    np.testing.assert_array_equal(seg.lut, [0, 3, 2, 1])  # dataset.json: 1 RV, 2 MLV, 3 LVC (ACDC)
    img = synthetic_series(nt=2)
    lab = seg.segment(img, GEOM, "cine")
    assert lab.shape == img.shape  # nnU-Net resampled 1.5 mm -> its 2.0 mm plans spacing and back
    # the same frame through nnU-Net's own segmentation output, converted from ACDC by our labels module
    own = seg.predictor.predict_single_npy_array(img[0][None], {"spacing": [GEOM.spacing, GEOM.dy, GEOM.dx]})
    assert own.shape == img.shape[1:] and len(np.unique(own)) > 1
    np.testing.assert_array_equal(lab[0], keep_largest_components(from_acdc(own)))


def test_nnunet_through_the_segment_stage(nnunet_folder: Path, tmp_path: Path) -> None:
    table, seg = _segment_stage(tmp_path, {"kind": "nnunetv2", "path": str(nnunet_folder), "folds": [0]})
    assert len(table) == 2 and not table["qc_pass"].any()
    assert load_image(seg[("cine", "full")])[0].shape == (3, 2, 40, 52)
    assert load_image(seg[("t1map", "full")])[0].shape == (1, 2, 40, 52)


def test_nnunet_folder_errors_name_the_file(nnunet_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SegmenterConfigError, match="fold_3.*checkpoint_final.pth"):
        load_segmenter_from_config({"segmentation": {"kind": "nnunetv2", "path": str(nnunet_folder), "folds": [3]}})
    (tmp_path / "empty").mkdir()
    with pytest.raises(SegmenterConfigError, match="dataset.json"):
        load_segmenter_from_config({"segmentation": {"kind": "nnunetv2", "path": str(tmp_path / "empty")}})
