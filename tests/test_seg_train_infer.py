"""Segmenter: data pipeline, a tiny training run, checkpoints, resume, inference and NIfTI round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from monai.losses import DiceCELoss

from cardiomm.cohort import Subject
from cardiomm.conventions import LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.io.cmrxrecon import write_kspace
from cardiomm.io.nifti import Geometry, load_image, save_image
from cardiomm.physics.fft import fft2c
from cardiomm.segmentation import training_task as train_mod
from cardiomm.segmentation.data import (
    AugmentConfig,
    SegPair,
    build_training_pairs,
    normalise_image,
    training_pairs,
)
from cardiomm.segmentation.infer import keep_largest_components, segment_mapping_series, segment_series
from cardiomm.segmentation.network import SIZES, build_segmenter, n_parameters
from cardiomm.segmentation.training_task import (
    SegmenterCheckpointError,
    SegTrainConfig,
    load_segmenter,
    save_segmenter,
    train_segmenter,
)

N = 48
GEOM = Geometry(dx=1.5, dy=1.5, thickness=8.0, gap=2.0, dt=0.04)
NO_AUG = AugmentConfig(rotate_prob=0, affine_prob=0, flip_prob=0, noise_prob=0, contrast_prob=0)


def toy_label(rng: np.random.Generator, n: int = N) -> np.ndarray:
    """Synthetic short-axis labels: LV blood disc (1), myocardial ring (2), RV disc (3) to its left."""
    r_lv, wall, r_rv = rng.uniform(5, 8), rng.uniform(3, 4.5), rng.uniform(6, 9)
    cy, cx = n / 2 + rng.uniform(-3, 3), n / 2 + 4 + rng.uniform(-3, 3)
    yy, xx = np.mgrid[:n, :n]
    lab = np.zeros((n, n), np.uint8)
    lab[np.hypot(yy - cy, xx - (cx - r_lv - wall - 0.5 * r_rv)) <= r_rv] = RV_BLOOD
    lab[np.hypot(yy - cy, xx - cx) <= r_lv + wall] = LV_MYO
    lab[np.hypot(yy - cy, xx - cx) <= r_lv] = LV_BLOOD
    return lab


def toy_image(lab: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Magnitude image for ``lab``: bright blood, dark myocardium, grey body, noise; arbitrary scale."""
    n = lab.shape[0]
    yy, xx = np.mgrid[:n, :n]
    body = ((yy - n / 2) / (0.45 * n)) ** 2 + ((xx - n / 2) / (0.48 * n)) ** 2 <= 1
    img = np.where(body, 0.3, 0.02) + np.array([0.0, 0.7, 0.05, 0.6])[lab]
    return (300 * (img + 0.04 * rng.standard_normal(lab.shape)).clip(0)).astype(np.float32)


def toy_pairs(n_pairs: int, seed: int) -> list[SegPair]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_pairs):
        lab = toy_label(rng)
        out.append(SegPair(toy_image(lab, rng), lab, (GEOM.dy, GEOM.dx), f"toy{i}"))
    return out


def eval_loss(model: torch.nn.Module, pairs: list[SegPair]) -> float:
    """DiceCE loss of ``model`` on ``pairs`` without augmentation."""
    x = torch.from_numpy(np.stack([normalise_image(p.image) for p in pairs]))[:, None]
    y = torch.from_numpy(np.stack([p.label for p in pairs]))[:, None]
    model.eval()
    with torch.inference_mode():
        return float(DiceCELoss(to_onehot_y=True, softmax=True, batch=True)(model(x), y))


CFG = SegTrainConfig(epochs=4, batch_size=8, lr=3e-3, seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("seg")
    pairs = toy_pairs(20, seed=1)
    res = train_segmenter(pairs[:16], pairs[16:], CFG, d / "seg.pt", d / "log")
    return {"res": res, "pairs": pairs, "dir": d}


# --------------------------------------------------------------------------------------- network


def test_network_sizes() -> None:
    small, paper = build_segmenter("small"), build_segmenter("paper")
    assert n_parameters(small) < 2_000_000 < n_parameters(paper)
    x = torch.zeros(2, 1, 112, 128)
    assert small(x).shape == (2, 4, 112, 128)
    assert SIZES["small"].divisor == 16
    with pytest.raises(KeyError, match="huge"):
        build_segmenter("huge")


# ------------------------------------------------------------------------------------------ data


def test_training_pairs_pad_normalise_and_keep_labels() -> None:
    pairs = toy_pairs(2, seed=3)
    small = pairs[1].image[:40, :44]
    ds = training_pairs([pairs[0].image, small], [pairs[0].label, pairs[1].label[:40, :44]], augment=False)
    item = ds[1]
    assert item["image"].shape == (1, 48, 48) and item["label"].shape == (1, 48, 48)
    # Validation items are exactly the inference normalisation, zero-padded symmetrically.
    expect = np.zeros((48, 48), np.float32)
    expect[4:44, 2:46] = normalise_image(small)
    np.testing.assert_allclose(item["image"][0].numpy(), expect, atol=1e-6)
    assert set(np.unique(item["label"].numpy())) <= {0, 1, 2, 3}
    with pytest.raises(ValueError, match="training image #0"):
        training_pairs([np.zeros((8, 8))], [np.zeros((8, 8), np.uint8)])
    with pytest.raises(ValueError, match="label shape"):
        training_pairs([pairs[0].image], [pairs[0].label[:10]])


def test_augmentation_is_seeded() -> None:
    p = toy_pairs(1, seed=4)[0]
    a = training_pairs([p.image], [p.label], seed=7)[0]
    b = training_pairs([p.image], [p.label], seed=7)[0]
    c = training_pairs([p.image], [p.label], seed=8)[0]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert not torch.equal(a["image"], c["image"])


def test_rot180_flip_keeps_rv_on_the_same_side_of_the_lv() -> None:
    p = toy_pairs(1, seed=5)[0]
    aug = AugmentConfig(rotate_prob=0, affine_prob=0, flip="rot180", flip_prob=1.0, noise_prob=0, contrast_prob=0)
    lab = training_pairs([p.image], [p.label], aug=aug)[0]["label"][0].numpy()
    np.testing.assert_array_equal(lab, np.rot90(p.label, 2))  # a rotation, never a mirror image
    with pytest.raises(ValueError, match="flip"):
        AugmentConfig(flip="sideways")


def _write_subject(root: Path, sid: str, rng: np.random.Generator) -> tuple[Subject, np.ndarray]:
    """A subject with cine (nt=2, nz=2) and T1 mapping (nt=3, nz=2, one shared label map) on disk."""
    s = Subject(sid, root, "train", {}, GEOM)
    labs = np.array([[toy_label(rng, 32) for _ in range(2)] for _ in range(3)])
    imgs = np.array([[toy_image(lab, rng) for lab in fr] for fr in labs])
    smaps = np.stack([np.full((32, 32), 0.6), np.full((32, 32), 0.8j)])  # sum |S|^2 = 1 -> RSS = |image|
    for mod, nt in (("cine", 2), ("t1map", 3)):
        coil = torch.from_numpy(imgs[:nt, :, None] * smaps[None, None]).to(torch.complex64)
        write_kspace(s.kspace_path(mod), fft2c(coil).numpy())
        lab = labs[:2] if mod == "cine" else labs[:1]
        save_image(s.label_path(mod), lab, GEOM, is_label=True)
    return s, imgs


def test_build_training_pairs_from_kspace(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    s, imgs = _write_subject(tmp_path, "P001", rng)
    pairs = build_training_pairs([s], ["cine", "t1map"])
    assert len(pairs) == 2 * 2 + 3 * 2
    cine = {p.source: p for p in pairs if "/cine/" in p.source}
    np.testing.assert_allclose(cine["P001/cine/t1/z0"].image, imgs[1, 0], rtol=1e-4, atol=1e-2)
    t1 = [p for p in pairs if "/t1map/" in p.source and p.source.endswith("z1")]
    assert len(t1) == 3 and all(np.array_equal(p.label, t1[0].label) for p in t1)  # one shared map per slice
    assert pairs[0].spacing_mm == (GEOM.dy, GEOM.dx)
    assert len(build_training_pairs([s], ["cine"], frames_per_series=1)) == 2
    # A subject without T2 k-space is skipped; k-space without labels is an error naming the file.
    assert len(build_training_pairs([s], ["cine", "t2map"])) == 4
    s.label_path("cine").unlink()
    with pytest.raises(FileNotFoundError, match="cine_label.nii.gz"):
        build_training_pairs([s], ["cine"])


# -------------------------------------------------------------------------------------- training


def test_training_lowers_the_loss(trained: dict) -> None:
    res, pairs = trained["res"], trained["pairs"]
    torch.manual_seed(CFG.seed)
    untrained = build_segmenter(CFG.size)
    model = load_segmenter(res["checkpoint"]).cpu()
    before, after = eval_loss(untrained, pairs[:16]), eval_loss(model, pairs[:16])
    assert after < 0.85 * before, (before, after)
    log = pd.read_csv(res["log_csv"])
    assert list(log["epoch"]) == [1, 2, 3, 4]
    assert log["train_loss"].iloc[-1] < log["train_loss"].iloc[0]
    assert {"val_dice_lv_blood", "val_hd95_mm_rv_blood"} <= set(log.columns)
    assert Path(res["curve_png"]).read_bytes()[:4] == b"\x89PNG"
    assert res["epochs"] == 4 and res["n_train"] == 16 and res["n_val"] == 4
    assert model.checkpoint_meta["metrics"]["best_epoch"] == res["best_epoch"]


def test_resume_gives_the_same_weights(tmp_path: Path, trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = trained["pairs"]
    cfg = SegTrainConfig(epochs=2, batch_size=8, lr=3e-3, seed=0, steps_per_epoch=1)
    train_segmenter(pairs[:16], pairs[16:], cfg, tmp_path / "a.pt", tmp_path / "a")

    real_plot, calls = train_mod._plot_curve, []

    def crash_in_epoch_2(history: list, path: Path) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill during epoch 2")
        real_plot(history, path)

    monkeypatch.setattr(train_mod, "_plot_curve", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_segmenter(pairs[:16], pairs[16:], cfg, tmp_path / "b.pt", tmp_path / "b")
    assert not (tmp_path / "b.pt").exists() and (tmp_path / "b" / "last.pt").exists()
    monkeypatch.setattr(train_mod, "_plot_curve", real_plot)
    res = train_segmenter(pairs[:16], pairs[16:], cfg, tmp_path / "b.pt", tmp_path / "b")
    assert res["resumed_from_epoch"] == 1 and res["epochs"] == 2
    sa = torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    sb = torch.load(tmp_path / "b.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # the one resume rule: another configuration is refused, naming the file and the differing keys
    with pytest.raises(ValueError, match=r"last\.pt.*train_config\.lr \(0\.003 -> 0\.001\)"):
        train_segmenter(pairs[:16], pairs[16:], SegTrainConfig(epochs=2, batch_size=8, lr=1e-3, seed=0,
                        steps_per_epoch=1), tmp_path / "c.pt", tmp_path / "b")
    with pytest.raises(ValueError, match=r"last\.pt.*data_fingerprint"):
        train_segmenter(pairs[:15], pairs[16:], cfg, tmp_path / "c.pt", tmp_path / "b")
    assert not (tmp_path / "c.pt").exists()


def test_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    model = build_segmenter("small")
    good = tmp_path / "good.pt"
    save_segmenter(model, good)
    x = torch.rand(1, 1, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(load_segmenter(good).cpu()(x), model.eval()(x))

    junk = tmp_path / "junk.pt"
    junk.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(SegmenterCheckpointError, match="junk.pt"):
        load_segmenter(junk)
    with pytest.raises(SegmenterCheckpointError, match="does not exist"):
        load_segmenter(tmp_path / "missing.pt")

    ckpt = torch.load(good, weights_only=True)
    first = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][first] = ckpt["state_dict"][first] + 1.0
    torch.save(ckpt, tmp_path / "tampered.pt")
    with pytest.raises(SegmenterCheckpointError, match="tampered.pt.*SHA-256"):
        load_segmenter(tmp_path / "tampered.pt")

    ckpt = torch.load(good, weights_only=True)
    ckpt["arch"] = "monai.networks.nets.DynUNet/2d"
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(SegmenterCheckpointError, match="other.pt.*architecture"):
        load_segmenter(tmp_path / "other.pt")


# ------------------------------------------------------------------------------------- inference


def test_segment_series_shape_dtype_and_nifti_round_trip(trained: dict, tmp_path: Path) -> None:
    model = load_segmenter(trained["res"]["checkpoint"])
    rng = np.random.default_rng(9)
    imgs = np.array([[toy_image(toy_label(rng, 44), rng)[:, :40] for _ in range(2)] for _ in range(3)])  # 44 x 40
    seg = segment_series(model, imgs, batch_size=4, source="toy.nii.gz")
    assert seg.shape == imgs.shape and seg.dtype == np.uint8
    assert set(np.unique(seg)) <= {0, 1, 2, 3}
    # Batch size does not change the result (instance norm, no cross-image coupling).
    np.testing.assert_array_equal(seg, segment_series(model, imgs, batch_size=1))
    path = tmp_path / "seg.nii.gz"
    save_image(path, seg, GEOM, is_label=True)
    back, geom = load_image(path)
    np.testing.assert_array_equal(back, seg)
    for f in ("dx", "dy", "thickness", "gap", "dt"):  # the NIfTI header stores float32
        assert getattr(geom, f) == pytest.approx(getattr(GEOM, f), rel=1e-6), f
    m = segment_mapping_series(model, imgs, batch_size=4)
    assert m.shape == (1, *imgs.shape[1:]) and m.dtype == np.uint8


def test_segment_series_rejects_bad_input() -> None:
    model = build_segmenter("small")
    ok = np.random.default_rng(0).random((1, 2, 32, 32)).astype(np.float32) + 0.1
    with pytest.raises(ValueError, match=r"cine_P001\.nii\.gz.*axes"):
        segment_series(model, ok[0], source="cine_P001.nii.gz")
    nan = ok.copy()
    nan[0, 1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="recon.mat.*NaN.*slice 1"):
        segment_series(model, nan, source="recon.mat")
    empty = ok.copy()
    empty[0, 1] = 0
    with pytest.raises(ValueError, match="x.nii.*frame 0, slice 1 is all zero"):
        segment_series(model, empty, source="x.nii")
    with pytest.raises(ValueError, match="complex"):
        segment_series(model, ok.astype(np.complex64), source="x")


def test_keep_largest_components_per_slice_and_class() -> None:
    lab = np.zeros((2, 20, 20), np.uint8)
    lab[0, 2:8, 2:8] = LV_BLOOD  # 36 px: kept
    lab[0, 12:14, 12:14] = LV_BLOOD  # 4 px: removed
    lab[0, 15:18, 2:5] = RV_BLOOD  # the only RV component: kept
    lab[1, 12:14, 12:14] = LV_BLOOD  # other slice: its own largest component, kept
    out = keep_largest_components(lab)
    assert (out[0] == LV_BLOOD).sum() == 36 and (out[0] == RV_BLOOD).sum() == 9
    assert (out[1] == LV_BLOOD).sum() == 4


def test_keep_largest_components_equals_monais_transform() -> None:
    """scipy's labelling keeps the same pixels as MONAI's KeepLargestConnectedComponent (the transform this
    replaced, so that segment jobs need not import it for this): random blobs of every class, 8-connectivity across
    diagonals, and ties between equally large components (kept as MONAI ranks them)."""
    from monai.transforms import KeepLargestConnectedComponent

    monai_keep = KeepLargestConnectedComponent(applied_labels=[LV_BLOOD, LV_MYO, RV_BLOOD], is_onehot=False,
                                               independent=True)
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 4, size=(40, 24, 24)).astype(np.uint8) * (rng.random((40, 24, 24)) < 0.35)
    tie = np.zeros((24, 24), np.uint8)
    tie[2:4, 2:4] = tie[10:12, 10:12] = tie[20:22, 1:3] = LV_BLOOD  # three 4-pixel components
    tie[5, 5] = tie[6, 6] = RV_BLOOD  # one component through a diagonal
    stack = np.concatenate([stack.astype(np.uint8), tie[None]])
    ours = keep_largest_components(stack)
    # copies: MONAI's transform works in place
    theirs = np.stack([np.asarray(monai_keep(sl[None].copy()))[0] for sl in stack]).astype(np.uint8)
    np.testing.assert_array_equal(ours, theirs)
    assert (ours[-1] == LV_BLOOD).sum() == 4 and (ours[-1] == RV_BLOOD).sum() == 2


def test_train_config_from_nested_dict() -> None:
    from dataclasses import asdict

    cfg = SegTrainConfig(epochs=3, augment={"flip": "none", "gamma": [0.8, 1.2]})  # as read from YAML
    assert isinstance(cfg.augment, AugmentConfig) and cfg.augment.gamma == (0.8, 1.2)
    assert SegTrainConfig.from_dict(asdict(cfg)) == cfg
    with pytest.raises(ValueError, match="flip"):
        SegTrainConfig(augment={"flip": "sideways"})
