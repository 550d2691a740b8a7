"""Data pipeline, training loop, checkpoints and batched inference of the reconstruction networks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cardiomm.acquisition import Acquisition
from cardiomm.cohort import SUBJECT_COLUMNS, load_cohort, write_subjects_csv
from cardiomm.io.cmrxrecon import write_kspace
from cardiomm.physics.coils import rss
from cardiomm.physics.fft import fft2c, ifft2c
from cardiomm.recon.learned import training_task as train_mod
from cardiomm.recon.learned.architectures import build_model
from cardiomm.recon.learned.data import (
    INPUT_NORMALISATION,
    FrameDataset,
    GroupedBatchSampler,
    context_indices,
    normalisation_scale,
    prepare_frame,
)
from cardiomm.recon.learned.infer import reconstruct_series
from cardiomm.recon.learned.model_files import CheckpointError, load_model, save_checkpoint
from cardiomm.recon.learned.sample import FrameSample
from cardiomm.sampling.masks import acs_from_mask, make_mask

NC, NY, NX = 4, 32, 32
TINY_CARDIOMM = dict(cascades=2, features=4, levels=2, sens_features=4, sens_levels=1, scan_dim=8, us_dim=8,
                     token_dim=4, n_components=4, prompt_channels=4)
TINY_VARNET = dict(cascades=2, features=4, sens_features=2)
TRAIN = dict(epochs=2, steps_per_epoch=3, val_frames=4, batch_size=2, lr=3e-3, step_size=1, gamma=0.5,
             max_frames_per_subject=6, accelerations=(4, 8), acs_lines=8, seed=3)
META = {"modality": "cine", "view": "sax", "vendor": "Siemens", "scanner": "Avanto", "field_strength_T": 1.5,
        "centre": "Center001"}


def _series(nt: int, nz: int, seed: int) -> np.ndarray:
    """Smooth multi-coil k-space ``(nt, nz, NC, NY, NX)`` of a beating disk in an ellipse."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, NY), np.linspace(-1, 1, NX), indexing="ij")
    maps = np.stack([np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2)) * np.exp(1j * (cx * xx - cy * yy))
                     for cx, cy in rng.uniform(-1, 1, (NC, 2))])
    out = np.zeros((nt, nz, NC, NY, NX), np.complex64)
    for t in range(nt):
        for z in range(nz):
            r = 0.35 + 0.08 * math.sin(2 * math.pi * t / nt) + 0.03 * z
            img = ((xx / 0.8) ** 2 + (yy / 0.7) ** 2 < 1) * (1 + 0.4 * xx) + 2.0 * (xx**2 + yy**2 < r**2)
            out[t, z] = fft2c(torch.from_numpy((img * maps).astype(np.complex64))).numpy()
    return out + (0.01 * (rng.standard_normal(out.shape) + 1j * rng.standard_normal(out.shape))).astype(np.complex64)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> list:
    root = tmp_path_factory.mktemp("cohort")
    rows = []
    for i, split in enumerate(("train", "train", "val")):
        sid = f"P{i + 1:03d}"
        rows.append({"subject": sid, "split": split, "centre": "Center001", "vendor": "Siemens",
                     "scanner": "Avanto", "field_strength_T": 1.5, "disease": "normal", "heart_rate_bpm": 60,
                     "dx_mm": 2.0, "dy_mm": 2.0, "thickness_mm": 8, "gap_mm": 2, "frame_interval_s": 0.08,
                     "view": "sax"})
        rows[-1].update({c: "" for c in SUBJECT_COLUMNS if c not in rows[-1]})  # columns added later: defaults
        base = root / "MultiCoil"
        write_kspace(base / "Cine/TrainingSet/FullSample" / sid / "cine_sax.mat", _series(4, 2, i))
        write_kspace(base / "Mapping/TrainingSet/FullSample" / sid / "T1map.mat", _series(3, 1, 10 + i))
    write_subjects_csv(root / "subjects.csv", rows)
    return load_cohort(root)


def _split(cohort: list, name: str) -> list:
    return [s for s in cohort if s.split == name]


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def test_normalisation_scale_is_homogeneous_and_safe() -> None:
    k = torch.from_numpy(_series(1, 1, 0)[0, 0])
    s = normalisation_scale(k)
    assert s > 0 and torch.equal(normalisation_scale(2 * k), 2 * s)
    assert normalisation_scale(torch.zeros_like(k)) == 1.0


def test_context_indices() -> None:
    assert context_indices(0, 5, 2, "cine") == [3, 4, 1, 2]  # the cardiac cycle wraps
    assert context_indices(2, 5, 1, "cine") == [1, 3]
    assert context_indices(1, 3, 2, "mapping") == [1, 1, 1, 1]  # other contrasts: centre replicated


def test_prepare_frame_normalises_by_the_zero_filled_scale() -> None:
    kfull = torch.from_numpy(_series(4, 1, 0)[:, 0])
    mask = torch.from_numpy(make_mask("ktGaussian8", 4, NY, NX, seed=0, acs=8))
    acs = torch.zeros(NY, NX, dtype=torch.bool)
    acs[12:20] = True
    f = prepare_frame(kfull, mask, 2, acs, temporal_context=1, kind="cine", kfull=kfull[2])
    m = mask[2] > 0
    assert torch.equal(f.kspace[:, ~m], torch.zeros_like(f.kspace[:, ~m]))  # zero outside the mask
    kus = kfull[2] * m
    torch.testing.assert_close(f.scale, normalisation_scale(kus))
    torch.testing.assert_close(f.kspace * f.scale, kus)
    torch.testing.assert_close(f.target * f.scale, rss(ifft2c(kfull[2])))
    assert f.context.shape == (2, NY, NX) and f.acs.shape == (1, NY, NX) and f.mask.shape == (1, NY, NX)


def test_dataset_masks_are_seeded_per_epoch(cohort: list) -> None:
    ds = FrameDataset(_split(cohort, "train"), ["cine", "t1map"], accelerations=(4, 8, 16), seed=5, acs_lines=8,
                      max_frames_per_subject=5)
    assert len(ds) == 2 * 5 + 2 * 3  # cine capped at 5 frames, t1map has 3
    a = ds[3]
    assert a.kspace.shape == (NC, NY, NX) and a.target.shape == (NY, NX)
    assert a.scan_tokens.shape == (5,) and a.us_tokens.shape == (2,) and a.us_cont.shape == (1,)
    assert torch.equal(ds[3].mask, a.mask)  # reproducible
    masks = []
    for e in range(4):
        ds.set_epoch(e)
        masks.append(torch.stack([ds[i].mask for i in range(len(ds))]))
    assert any(not torch.equal(masks[0], m) for m in masks[1:])  # a new draw per epoch
    ds.set_epoch(0)
    assert torch.equal(torch.stack([ds[i].mask for i in range(len(ds))]), masks[0])
    # the batch sampler never mixes files and covers every frame once per epoch
    sampler = GroupedBatchSampler(ds, batch_size=2, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(ds)))
    assert all(len({(ds.frames[i].subject, ds.frames[i].modality) for i in b}) == 1 for b in batches)


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------


def _inputs(b: int = 2) -> FrameSample:
    k = torch.from_numpy(_series(1, b, 0)[0])
    mask = torch.from_numpy(make_mask("Uniform4", 1, NY, NX, seed=0, acs=8)).float().expand(b, 1, NY, NX)
    acs = torch.zeros(b, 1, NY, NX, dtype=torch.bool)
    acs[..., 12:20, :] = True
    return FrameSample(kspace=k * mask, mask=mask, acs=acs, scale=torch.ones(b),
                       scan_tokens=torch.ones(b, 5, dtype=torch.long), us_tokens=torch.ones(b, 2, dtype=torch.long),
                       us_cont=torch.full((b, 1), 2.0))


@pytest.mark.parametrize(("kind", "cfg"), [("cardiomm", TINY_CARDIOMM), ("varnet", TINY_VARNET)])
def test_checkpoint_round_trip(tmp_path: Path, kind: str, cfg: dict) -> None:
    torch.manual_seed(0)
    model = build_model(kind, cfg).eval()
    path = tmp_path / f"{kind}.pt"
    digest = save_checkpoint(path, model, {"lr": 1e-3}, {"val_ssim": 0.5})
    loaded, meta = load_model(path, kind)
    assert meta["arch"] == kind and meta["state_sha256"] == digest and meta["metrics"] == {"val_ssim": 0.5}
    assert not loaded.training
    x = _inputs()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "m.pt"
    save_checkpoint(path, build_model("cardiomm", TINY_CARDIOMM))
    with pytest.raises(CheckpointError, match=r"m\.pt.*'cardiomm' network.*'varnet'"):
        load_model(path, "varnet")
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pt.*corrupt"):
        load_model(bad)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_model(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    # altered weights: digest mismatch
    ck = torch.load(path, weights_only=True)
    name = next(iter(ck["state_dict"]))
    ck["state_dict"][name] = ck["state_dict"][name] + 1
    torch.save(ck, tmp_path / "tampered.pt")
    with pytest.raises(CheckpointError, match=r"tampered\.pt.*digest"):
        load_model(tmp_path / "tampered.pt")
    # a state that does not fit the architecture its config describes
    ck = torch.load(path, weights_only=True)
    ck["model_config"]["features"] = 6
    torch.save(ck, tmp_path / "misfit.pt")
    with pytest.raises(CheckpointError, match=r"misfit\.pt.*does not fit"):
        load_model(tmp_path / "misfit.pt")


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def test_training_lowers_the_loss_and_logs(cohort: list, tmp_path: Path) -> None:
    train, val = _split(cohort, "train"), _split(cohort, "val")
    cfg = dict(TRAIN, epochs=3, steps_per_epoch=6, step_size=10)
    tc = train_mod.TrainConfig.from_dict(cfg)
    torch.manual_seed(tc.seed)
    untrained = build_model("cardiomm", TINY_CARDIOMM)
    loader = train_mod._val_loader(val, ["cine", "t1map"], tc, 0, None)
    before = train_mod.evaluate(untrained, loader, torch.device("cpu"), tc)["loss"]
    out = tmp_path / "ckpt" / "cardiomm.pt"
    metrics = train_mod.train_model("cardiomm", TINY_CARDIOMM, cfg, train, val, ["cine", "t1map"], out,
                                    tmp_path / "logs", progress=False)
    assert metrics["val_loss"] < before
    assert metrics["steps"] == 18 and metrics["epochs"] == 3
    log = pd.read_csv(tmp_path / "logs" / "train_log.csv")
    assert list(log["epoch"]) == [1, 2, 3] and log["val_ssim"].notna().all()
    assert (tmp_path / "logs" / "loss_curve.png").stat().st_size > 1000
    model, meta = load_model(out, "cardiomm")
    assert meta["metrics"]["val_loss"] == metrics["val_loss"] and meta["train_config"]["lr"] == cfg["lr"]


def test_training_resumes_to_the_same_weights(cohort: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    train, val = _split(cohort, "train"), _split(cohort, "val")
    args = ("varnet", TINY_VARNET, TRAIN, train, val, ["cine"])
    ref = train_mod.train_model(*args, tmp_path / "a.pt", tmp_path / "a", progress=False)

    calls = {"n": 0}
    real_evaluate = train_mod.evaluate

    def interrupted(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 2:  # killed during epoch 2, after epoch 1 was saved
            raise KeyboardInterrupt
        return real_evaluate(*a, **kw)

    monkeypatch.setattr(train_mod, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_mod.train_model(*args, tmp_path / "b.pt", tmp_path / "b", progress=False)
    assert not (tmp_path / "b.pt").exists()
    assert torch.load(tmp_path / "b" / "resume.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(train_mod, "evaluate", real_evaluate)
    res = train_mod.train_model(*args, tmp_path / "b.pt", tmp_path / "b", progress=False)
    assert res["state_sha256"] == ref["state_sha256"]
    assert res["val_loss"] == pytest.approx(ref["val_loss"])
    # more epochs continue from the finished state
    more = train_mod.train_model(*args[:2], dict(TRAIN, epochs=3), *args[3:], tmp_path / "b.pt", tmp_path / "b",
                                 progress=False)
    assert more["epochs"] == 3 and more["steps"] == 3 * TRAIN["steps_per_epoch"]
    assert len(pd.read_csv(tmp_path / "b" / "train_log.csv")) == 3
    # a different configuration must not silently continue from that state
    with pytest.raises(ValueError, match=r"resume\.pt.*model_config\.features \(4 -> 5\)"):
        train_mod.train_model("varnet", dict(TINY_VARNET, features=5), TRAIN, train, val, ["cine"],
                              tmp_path / "c.pt", tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match=r"resume\.pt.*train_config\.lr \(0\.003 -> 0\.001\)") as err:
        train_mod.train_model("varnet", TINY_VARNET, dict(TRAIN, lr=1e-3), train, val, ["cine"],
                              tmp_path / "c.pt", tmp_path / "b", progress=False)
    assert "epochs" not in str(err.value)  # only the keys that differ are named


def test_ssim_loss_properties() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 24, 24, generator=g)
    assert torch.allclose(train_mod.ssim(y, y), torch.ones(2))
    noisy = y + 0.2 * torch.randn(y.shape, generator=g)
    assert (train_mod.ssim(noisy, y) < 0.95).all()
    p = noisy.clone().requires_grad_(True)
    train_mod.recon_loss(p, y, 1.0, 0.1).backward()
    assert p.grad is not None and p.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------
# inference
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "cfg"), [("cardiomm", TINY_CARDIOMM), ("cardiomm", dict(TINY_CARDIOMM,
                                           temporal_context=1)), ("varnet", TINY_VARNET)])
@pytest.mark.parametrize(("mod", "name"), [("cine", "ktRadial8"), ("t1map", "Uniform4")])
def test_reconstruct_series_undoes_normalisation(kind: str, cfg: dict, mod: str, name: str) -> None:
    torch.manual_seed(0)
    model = build_model(kind, cfg)
    nt = 4 if mod == "cine" else 3
    kfull = _series(nt, 2, 1)
    mask = make_mask(name, nt, NY, NX, seed=0, acs=8)
    kus = kfull * mask[:, None, None]
    meta = dict(META, modality=mod, field_strength_T=0.55, vendor="Bruker")  # unseen metadata is fine
    out = reconstruct_series(model, Acquisition.from_arrays(kus, mask, name, 8, meta), batch_size=3)
    assert out.shape == (nt, 2, NY, NX) and out.dtype == np.float32 and np.isfinite(out).all()
    out2 = reconstruct_series(model, Acquisition.from_arrays(2 * kus, mask, name, 8, meta), batch_size=5)
    np.testing.assert_allclose(out2, 2 * out, rtol=1e-4, atol=1e-6 * out.max())
    # output in the units of the fully sampled RSS (same order of magnitude even untrained)
    ref = rss(ifft2c(torch.from_numpy(kfull))).numpy()
    assert 0.2 < np.median(out[ref > 0.5 * ref.max()]) / np.median(ref[ref > 0.5 * ref.max()]) < 5


def test_reconstruct_series_rejects_bad_input() -> None:
    model = build_model("varnet", TINY_VARNET)
    kus = _series(2, 1, 0)
    mask = make_mask("Uniform4", 2, NY, NX, seed=0, acs=8)
    # the acquisition is validated once, where it is built, naming its source
    with pytest.raises(ValueError, match="kus.mat: k-space must be complex"):
        Acquisition.from_arrays(np.abs(kus), mask, "Uniform4", meta=META, source="kus.mat")
    with pytest.raises(ValueError, match="mask.mat: mask"):
        Acquisition.from_arrays(kus, mask[:, :-1], "Uniform4", meta=META, source="kus.mat", mask_source="mask.mat")
    with pytest.raises(KeyError, match="modality"):
        reconstruct_series(model, Acquisition.from_arrays(kus, mask, "Uniform4", 8, meta={"vendor": "GE"}))


def test_acs_from_mask_finds_the_calibration_block() -> None:
    m = make_mask("ktGaussian8", 4, NY, NX, seed=0, acs=8)
    region = acs_from_mask(m, acs=8)
    assert region.sum() == 8 * NX and region[NY // 2].all()
    r = acs_from_mask(make_mask("ktRadial8", 4, NY, NX, seed=0, acs=8), acs=8)
    assert r.sum() == 64 and r[12:20, 12:20].all()  # the central 8 x 8 square


# ---------------------------------------------------------------------------------------------
# the published architectures through the same engine
# ---------------------------------------------------------------------------------------------

TINY_PUBLISHED = dict(num_cascades=1, num_adj_slices=3, n_feat0=4, feature_dim=(6, 8, 12), prompt_dim=(2, 4, 4),
                      sens_n_feat0=4, sens_feature_dim=(4, 6, 8), sens_prompt_dim=(2, 2, 4), len_prompt=(2, 2, 2),
                      prompt_size=(8, 4, 2), n_enc_cab=(1, 1, 1), n_dec_cab=(1, 1, 1), n_skip_cab=(1, 1, 1),
                      n_bottleneck_cab=1)


def _train_published(arch: str, model_cfg: dict, cohort: list, tmp_path: Path, **kw) -> tuple[dict, Path]:
    train, val = _split(cohort, "train"), _split(cohort, "val")
    cfg = dict(TRAIN, epochs=1, steps_per_epoch=2, val_frames=2, patterns=("Uniform", "ktRadial"))
    out = tmp_path / f"{arch}.pt"
    m = train_mod.train_model(arch, model_cfg, cfg, train, val, ["cine", "t1map"], out, tmp_path / "logs",
                              progress=False, **kw)
    return m, out


def test_promptmr_trains_to_a_loadable_checkpoint(cohort: list, tmp_path: Path) -> None:
    """PromptMR+ takes its adjacent frames through the same engine; the checkpoint loads for inference."""
    from cardiomm.recon.learned.model_files import load_any

    m, out = _train_published("promptmr", dict(TINY_PUBLISHED, n_history=1), cohort, tmp_path)
    assert m["arch"] == "promptmr" and m["steps"] == 2 and math.isfinite(m["val_loss"])
    model, meta = load_any(out, "promptmr")
    assert model.config.num_adj_slices == 3
    log = pd.read_csv(tmp_path / "logs" / "train_log.csv")
    assert list(log["epoch"]) == [1] and log["val_ssim"].notna().all()
    _assert_inference_sees_the_training_input(model, meta, cohort)


def _assert_inference_sees_the_training_input(model: torch.nn.Module, meta: dict, cohort: list,
                                              clip_dir: Path | None = None) -> None:
    """Our trained published-arch checkpoint records the training normalisation, and series inference then
    feeds the network exactly a training sample's k-space (adjacent frames divided by the centre frame's
    scale) and gives the training forward's output times the scale."""
    from cardiomm.recon.learned.infer_published import input_normalised, network_input, reconstruct_series_published
    from cardiomm.recon.learned.sample import collate_samples

    assert meta["extra"] == {"input_normalisation": INPUT_NORMALISATION} and input_normalised(meta)
    ds = FrameDataset(_split(cohort, "val"), ["cine"], ("Uniform", "ktRadial"), (4,), seed=5, fixed_masks=True,
                      acs_lines=8, adjacent=3,
                      text_fn=None if clip_dir is None else train_mod._text_features(model, clip_dir))
    seen: list[torch.Tensor] = []
    hook = model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    try:
        for index in (1, 6):  # one frame per pattern draw; the centre frame is not at the series' ends
            ref, sample = ds.frames[index], ds[index]
            kfull = ds._kspace((ref.subject, ref.modality))
            nt, nz, _, ny, nx = kfull.shape
            name, mask, _ = ds.draw_mask(index, nt, ny, nx)
            seen.clear()
            series = reconstruct_series_published(model, kfull * mask[:, None, None], mask, name,
                                                  {**ds.subjects[ref.subject].meta, "modality": "cine"},
                                                  clip_dir=clip_dir, acs_width=8, normalise=True)
            fed = seen[ref.z * nt + ref.t]  # jobs run slice by slice, frame by frame
            torch.testing.assert_close(fed, network_input(sample.adjacent[None], sample.adjacent_mask[None])[0],
                                       rtol=1e-6, atol=0)
            with torch.no_grad():
                trained = train_mod.run_batch(model, collate_samples([sample]), torch.device("cpu"))[0]
            np.testing.assert_allclose(series[ref.t, ref.z], (trained * sample.scale).numpy(), rtol=1e-5,
                                       atol=1e-6 * float(series.max()))
    finally:
        hook.remove()


def test_official_cardiomm_trains_with_clip_text_features(cohort: list, tmp_path: Path) -> None:
    """The official CardioMM trains on text features from a local CLIP folder (here a tiny random one); without
    the folder the error names the config key."""
    pytest.importorskip("transformers")
    from clip_folder import tiny_clip_folder

    from cardiomm.recon.learned.model_files import load_any
    from cardiomm.recon.learned.text_prompts import ClipFolderError

    folder = tmp_path / "clip-vit-base-patch16"
    tiny_clip_folder(folder)
    mcfg = dict(TINY_PUBLISHED, llm_model_dim=24, llm_embd_dim=8)
    with pytest.raises(ClipFolderError, match="train.cardiomm_official.clip_dir is not set"):
        _train_published("cardiomm_official", mcfg, cohort, tmp_path / "none")
    m, out = _train_published("cardiomm_official", mcfg, cohort, tmp_path, clip_dir=folder)
    assert m["arch"] == "cardiomm_official" and m["steps"] == 2 and math.isfinite(m["val_loss"])
    model, meta = load_any(out, "cardiomm_official")
    assert model.config.llm_model_dim == 24
    _assert_inference_sees_the_training_input(model, meta, cohort, folder)


@pytest.mark.parametrize("kind,cfg", [("cardiomm", TINY_CARDIOMM), ("varnet", TINY_VARNET),
                                      ("promptmr", dict(TINY_PUBLISHED, n_history=1)),
                                      ("cardiomm_official", dict(TINY_PUBLISHED, llm_model_dim=24, llm_embd_dim=8))])
def test_measure_step_seconds_runs_every_architecture(kind: str, cfg: dict) -> None:
    """The cost probe of benchmarks/bench_published.py runs a training step and inference for every architecture,
    the published ones with their adjacent frames (and text features); no time is asserted."""
    res = train_mod.measure_step_seconds(kind, cfg, nc=2, ny=24, nx=32, steps=2, infer_batch=2, infer_repeats=1)
    assert res["n_parameters"] == train_mod.count_parameters(build_model(kind, cfg))
    assert res["train_step_s"] > 0 and res["infer_frame_s"] > 0 and math.isfinite(res["train_step_s"])
