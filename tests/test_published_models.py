"""The published CardioMM and PromptMR+ ports against numbers recorded from the official code.

The fixtures in ``tests/fixtures/`` were written by running the official code (CardioMM_MMCMR-427K
``models/CardioMM_model.py`` + the ``LMHead`` heads with fastmri 0.3.0; PromptMR-plus ``models/promptmr.py``
at ba66423) in a scratch folder outside the repository, on seeded tiny configurations at batch size 1 with
perturbed random weights: ``<name>.ckpt`` holds the official module's state dict (Lightning layout),
``<name>_io.npz`` the inputs and the official output. No official code is in the repository.
"""

from __future__ import annotations

import json
import pickle
import sys
import types
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from cardiomm.physics.sense import SenseOp
from cardiomm.recon.learned.model_files import (
    CheckpointError,
    load_any,
    load_model,
    load_published,
    read_weights_only,
    save_checkpoint,
)
from cardiomm.recon.learned.networks.cardiomm_official import (
    CardioMMOfficial,
    CardioMMOfficialConfig,
    official_square_acs,
)
from cardiomm.recon.learned.networks.promptmr import PromptMR, PromptMRConfig, acs_kind_for

FIX = Path(__file__).parent / "fixtures"
CMM = ["uniform1d", "kt2d", "random1d_inferred"]
PMR = ["plus_uniform1d", "plus_kt2d", "plain_inferred", "v2_uniform1d", "v2_kt2d"]
TOL = 1e-5


def _io(prefix: str, name: str) -> dict:
    io = np.load(FIX / f"{prefix}_{name}_io.npz")
    k = torch.view_as_complex(torch.from_numpy(io["kspace"]).contiguous())
    m = torch.from_numpy(io["mask"])[..., 0]  # official (1, 1 or N, 1 or H, W, 1) -> (1, 1 or N, 1 or H, W)
    m = m.expand(m.shape[0], m.shape[1], k.shape[2], k.shape[3])
    out = {"kspace": k, "mask": m, "acs": int(io["num_low_frequencies"]), "mask_type": str(io["mask_type"]),
           "output": torch.from_numpy(io["output"]), "config": json.loads(str(io["config"]))}
    for key in ("text_meta", "text_us", "emb_meta"):
        if key in io:
            out[key] = torch.from_numpy(io[key])
    return out


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _run_cmm(model: CardioMMOfficial, io: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(io["kspace"], io["mask"], io["acs"], official_square_acs(io["mask_type"]),
                     io["text_meta"], io["text_us"])


def _run_pmr(model: PromptMR, io: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(io["kspace"], io["mask"], io["acs"], acs_kind_for(io["mask_type"]))


# ------------------------------------------------------------------------------------------------
# Equivalence with the official code
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CMM)
def test_cardiomm_official_reproduces_official_outputs(name):
    io = _io("cardiomm_official", name)
    cfg = {k: v for k, v in io["config"].items()}
    model, meta = load_published(FIX / f"cardiomm_official_{name}.ckpt", "cardiomm_official", cfg)
    assert meta["ignored_keys"] == {}
    out = _run_cmm(model, io)
    assert out.shape == io["output"].shape
    assert _rel(out, io["output"]) <= TOL
    # the official head's normalisation over an axis of length 1: every coordinate is +-1
    emb = model.lm_head_meta(io["text_meta"])
    assert torch.allclose(emb, io["emb_meta"], atol=1e-6)
    assert torch.all(emb.abs() == 1)


@pytest.mark.parametrize("name", PMR)
def test_promptmr_reproduces_official_outputs(name):
    io = _io("promptmr", name)
    model, meta = load_published(FIX / f"promptmr_{name}.ckpt", "promptmr")  # config from hyper_parameters
    assert model.config.n_history == io["config"]["n_history"]
    out = _run_pmr(model, io)
    assert _rel(out, io["output"]) <= TOL


def test_text_changes_the_output_and_is_paired_per_item():
    """A batch of two items with different texts equals each item run alone (the official batch>1 pairing
    is not copied), and the text really conditions the reconstruction."""
    io = _io("cardiomm_official", "kt2d")
    model, _ = load_published(FIX / "cardiomm_official_kt2d.ckpt", "cardiomm_official", io["config"])
    other = dict(io, text_meta=-io["text_meta"], text_us=io["text_us"].flip(-1))
    a, b = _run_cmm(model, io), _run_cmm(model, other)
    assert _rel(a, b) > 1e-3
    both = {"kspace": torch.cat([io["kspace"]] * 2), "mask": torch.cat([io["mask"]] * 2),
            "acs": io["acs"], "mask_type": io["mask_type"],
            "text_meta": torch.cat([io["text_meta"], other["text_meta"]]),
            "text_us": torch.cat([io["text_us"], other["text_us"]])}
    ab = _run_cmm(model, both)
    assert _rel(ab[0:1], a) <= TOL and _rel(ab[1:2], b) <= TOL


@pytest.mark.parametrize("arch,name", [("cardiomm_official", "kt2d"), ("promptmr", "plus_kt2d"),
                                       ("promptmr", "v2_uniform1d")])
def test_data_consistency_goes_through_the_injected_operator(arch, name):
    """The published ports take their data consistency from ``op(maps, mask)`` (a SenseOp per frame): the
    default gives the official output, the factory is called once per forward with the frames x coils layout,
    and a different operator changes the reconstruction."""
    io = _io(arch, name)
    model, _ = load_published(FIX / f"{arch}_{name}.ckpt", arch, io["config"] if arch == "cardiomm_official" else None)
    frames = model.config.num_adj_slices
    calls = []

    def recording(maps, mask):
        calls.append((tuple(maps.shape), tuple(mask.shape)))
        return SenseOp(maps, mask)

    def scaled(maps, mask):  # a different (still linear) operator: maps scaled by 2
        return SenseOp(2 * maps, mask)

    run = _run_cmm if arch == "cardiomm_official" else _run_pmr
    with torch.no_grad():
        args = ((io["kspace"], io["mask"], io["acs"], official_square_acs(io["mask_type"]), io["text_meta"],
                 io["text_us"]) if arch == "cardiomm_official"
                else (io["kspace"], io["mask"], io["acs"], acs_kind_for(io["mask_type"])))
        out = model(*args, op=recording)
        other = model(*args, op=scaled)
    B, N, H, W = io["kspace"].shape
    assert len(calls) == 1 and calls[0][0] == (B, frames, N // frames, H, W)
    assert calls[0][1] in ((B, 1, 1, H, W), (B, frames, N // frames, H, W))  # one mask, or one per frame x coil
    assert torch.equal(out, run(model, io))
    assert _rel(out, io["output"]) <= TOL
    assert _rel(other, io["output"]) > 1e-3


# ------------------------------------------------------------------------------------------------
# Loading: formats, allow-list, clear errors
# ------------------------------------------------------------------------------------------------


def test_plain_state_dicts_load_strictly(tmp_path):
    io = _io("promptmr", "plus_kt2d")
    ck = torch.load(FIX / "promptmr_plus_kt2d.ckpt", weights_only=True)
    plain = {k[len("promptmr."):]: v for k, v in ck["state_dict"].items()}
    torch.save(plain, tmp_path / "plain.pt")
    model, _ = load_published(tmp_path / "plain.pt", "promptmr", io["config"])
    assert _rel(_run_pmr(model, io), io["output"]) <= TOL

    io = _io("cardiomm_official", "uniform1d")
    ck = torch.load(FIX / "cardiomm_official_uniform1d.ckpt", weights_only=True)
    torch.save(ck["state_dict"], tmp_path / "cmm_plain.pt")
    model, _ = load_published(tmp_path / "cmm_plain.pt", "cardiomm_official", io["config"])
    assert _rel(_run_cmm(model, io), io["output"]) <= TOL
    # the bare network without its text heads: refused, naming the missing head keys
    bare = {k[len("metausunetlight."):]: v for k, v in ck["state_dict"].items() if k.startswith("metausunetlight.")}
    torch.save(bare, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match=r"bare\.pt.*missing keys: lm_head_meta\.fc1\.weight"):
        load_published(tmp_path / "bare.pt", "cardiomm_official", io["config"])


def test_lightning_extras_are_allowed_and_reported(tmp_path, monkeypatch):
    """Lightning's AttributeDict, Namespace and paths load under weights_only; the frozen text encoder and
    the SSIM window are reported as ignored, not dropped silently."""
    io = _io("cardiomm_official", "kt2d")
    ck = torch.load(FIX / "cardiomm_official_kt2d.ckpt", weights_only=True)
    fake = types.ModuleType("pytorch_lightning.utilities.parsing")

    class AttributeDict(dict):
        pass

    AttributeDict.__module__ = "pytorch_lightning.utilities.parsing"
    AttributeDict.__qualname__ = "AttributeDict"
    fake.AttributeDict = AttributeDict
    for name in ("pytorch_lightning", "pytorch_lightning.utilities", "pytorch_lightning.utilities.parsing"):
        monkeypatch.setitem(sys.modules, name, fake if name.endswith("parsing") else types.ModuleType(name))
    import argparse

    ck["hyper_parameters"] = AttributeDict(io["config"], data_path=Path("/data/x"))
    ck["hparams_ns"] = argparse.Namespace(lr=1e-4)
    state = dict(ck["state_dict"])
    state["language_model_no.model.text_model.embeddings.position_ids"] = torch.arange(4)
    state["loss.w"] = torch.ones(1, 1, 7, 7)
    ck["state_dict"] = state
    torch.save(ck, tmp_path / "lightning.ckpt")
    for name in ("pytorch_lightning", "pytorch_lightning.utilities", "pytorch_lightning.utilities.parsing"):
        monkeypatch.delitem(sys.modules, name)
    model, meta = load_published(tmp_path / "lightning.ckpt", "cardiomm_official")  # config from hparams
    assert meta["ignored_keys"] == {"language_model_no.": 1, "loss.": 1}
    assert _rel(_run_cmm(model, io), io["output"]) <= TOL


def test_checkpoint_needing_other_types_is_refused(tmp_path):
    ck = torch.load(FIX / "promptmr_plain_inferred.ckpt", weights_only=True)
    ck["extra"] = Fraction(1, 3)
    torch.save(ck, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refused: .*fractions\.Fraction.*allow-list"):
        read_weights_only(tmp_path / "evil.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(pickle.dumps({"a": 1})[:5])
    with pytest.raises(CheckpointError, match=r"junk\.ckpt: cannot be read"):
        read_weights_only(tmp_path / "junk.ckpt")


def test_other_architecture_missing_key_and_shape_errors(tmp_path):
    with pytest.raises(CheckpointError, match=r"promptmr_plus_kt2d\.ckpt: does not fit the 'cardiomm_official'"
                                              r".*looks like a 'promptmr' checkpoint"):
        load_published(FIX / "promptmr_plus_kt2d.ckpt", "cardiomm_official")
    io = _io("promptmr", "plus_kt2d")
    ck = torch.load(FIX / "promptmr_plus_kt2d.ckpt", weights_only=True)
    del ck["state_dict"]["promptmr.cascades.0.dc_weight"]
    torch.save(ck, tmp_path / "missing.ckpt")
    with pytest.raises(CheckpointError, match=r"missing\.ckpt: .*1 missing keys: cascades\.0\.dc_weight"):
        load_published(tmp_path / "missing.ckpt", "promptmr")
    wrong = dict(io["config"], n_feat0=8)
    with pytest.raises(CheckpointError, match=r"plus_kt2d\.ckpt: .*shape mismatches: .*feat_extract\.weight"):
        load_published(FIX / "promptmr_plus_kt2d.ckpt", "promptmr", wrong)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_published(tmp_path / "nope.ckpt", "promptmr")


def test_own_format_round_trip_and_dispatch(tmp_path):
    cfg = _io("cardiomm_official", "uniform1d")["config"]
    model = CardioMMOfficial(CardioMMOfficialConfig(**cfg))
    save_checkpoint(tmp_path / "own.pt", model, train_config={"steps": 0})
    loaded, meta = load_model(tmp_path / "own.pt", "cardiomm_official")
    assert meta["arch"] == "cardiomm_official"
    for (ka, va), (kb, vb) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    again, _ = load_any(tmp_path / "own.pt", "cardiomm_official")
    assert isinstance(again, CardioMMOfficial)
    with pytest.raises(CheckpointError, match=r"own\.pt: holds a 'cardiomm_official' network"):
        load_published(tmp_path / "own.pt", "promptmr")
    pmr = PromptMR(PromptMRConfig(**_io("promptmr", "plain_inferred")["config"]))
    save_checkpoint(tmp_path / "pmr.pt", pmr)
    assert isinstance(load_any(tmp_path / "pmr.pt", "promptmr")[0], PromptMR)


def test_fixtures_are_small():
    for f in FIX.glob("*"):
        assert f.stat().st_size < 1_000_000, f


# ------------------------------------------------------------------------------------------------
# Series reconstruction in the pipeline
# ------------------------------------------------------------------------------------------------


def test_adjacent_frames_follow_promptmr_dataset_rule():
    from cardiomm.recon.learned.infer_published import adjacent_frames

    assert adjacent_frames(0, 12, 5) == [10, 11, 0, 1, 2]
    assert adjacent_frames(11, 12, 3) == [10, 11, 0]
    assert adjacent_frames(1, 3, 5) == [0, 0, 1, 2, 2]  # fewer frames than the window: ends replicated
    assert adjacent_frames(0, 1, 5) == [0] * 5


def test_series_reconstruction_matches_direct_calls():
    """Every frame of the series equals the network applied to its adjacent frames with the phase-encoding
    axis last (built here independently with NumPy)."""
    from cardiomm.recon.learned.infer_published import reconstruct_series_published

    io = _io("promptmr", "plus_kt2d")
    model, _ = load_published(FIX / "promptmr_plus_kt2d.ckpt", "promptmr")
    rng = np.random.default_rng(0)
    nt, nz, nc, ny, nx = 4, 1, 2, 20, 24  # project layout (ny, nx); the network sees (nx=24, ny=20)
    kus = (rng.standard_normal((nt, nz, nc, ny, nx)) + 1j * rng.standard_normal((nt, nz, nc, ny, nx))).astype(
        np.complex64)
    mask = np.zeros((nt, ny, nx), dtype=np.uint8)
    for t in range(nt):
        mask[t, t::3] = 1  # lines along ny, shifted per frame
        mask[t, ny // 2 - 3: ny // 2 + 3] = 1
    kus = kus * mask[:, None, None]
    out = reconstruct_series_published(model, kus, mask, "ktGaussian4", {"modality": "cine"})
    assert out.shape == (nt, nz, ny, nx) and np.isfinite(out).all()
    for t in (0, 3):
        idx = [(t + d) % nt for d in (-1, 0, 1)]
        k = torch.from_numpy(kus[idx, 0].transpose(0, 1, 3, 2).reshape(3 * nc, nx, ny).copy())[None]
        m = torch.from_numpy(np.repeat(mask[idx].transpose(0, 2, 1)[:, None], nc, 1).reshape(3 * nc, nx, ny) > 0)[None]
        with torch.no_grad():
            ref = model(k, m, 20, "lines")[0].numpy().T
        np.testing.assert_allclose(out[t, 0], ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    assert io["config"]["num_adj_slices"] == 3


def test_released_weights_run_on_raw_kspace():
    """Released official weights carry no normalisation record: inference feeds the network the acquisition's
    k-space unchanged, as the official code does (our trained checkpoints: tests/test_train_infer.py)."""
    from cardiomm.recon.learned.infer_published import input_normalised, network_input, reconstruct_series_published

    model, meta = load_published(FIX / "promptmr_plus_kt2d.ckpt", "promptmr")
    assert input_normalised(meta) is False
    with pytest.raises(ValueError, match="input_normalisation='max'"):
        input_normalised({"extra": {"input_normalisation": "max"}})
    rng = np.random.default_rng(2)
    nt, nz, nc, ny, nx = 3, 1, 2, 20, 24
    kus = 1e-4 * (rng.standard_normal((nt, nz, nc, ny, nx)) + 1j * rng.standard_normal((nt, nz, nc, ny, nx)))
    mask = np.zeros((nt, ny, nx), dtype=np.uint8)
    mask[:, ::2] = 1
    kus = (kus * mask[:, None, None]).astype(np.complex64)
    seen = []
    hook = model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    try:
        reconstruct_series_published(model, kus, mask, "Uniform2", {"modality": "cine"},
                                     normalise=input_normalised(meta))
    finally:
        hook.remove()
    k, _ = network_input(torch.from_numpy(kus[[2, 0, 1], 0])[None], torch.from_numpy(mask[[2, 0, 1]])[None])
    assert torch.equal(seen[0], k)


def test_series_reconstruction_takes_the_release_acs_width():
    """The ACS width reaches the network (the release's, as for the other methods), not the project's 20."""
    from cardiomm.acquisition import Acquisition
    from cardiomm.methods import ReconParams
    from cardiomm.recon.learned.infer_published import acs_rule
    from cardiomm.recon.learned.infer_published import method as published_method

    assert acs_rule("promptmr", "Uniform8", 16) == (16, False)
    assert acs_rule("cardiomm_official", "ktRadial8", 24) == (24, True)
    rng = np.random.default_rng(1)
    nt, nz, nc, ny, nx = 3, 1, 2, 20, 24
    kus = (rng.standard_normal((nt, nz, nc, ny, nx)) + 1j * rng.standard_normal((nt, nz, nc, ny, nx))).astype(
        np.complex64)
    mask = np.zeros((nt, ny, nx), dtype=np.uint8)
    mask[:, ::2] = 1
    mask[:, ny // 2 - 6: ny // 2 + 6] = 1
    rec = published_method("promptmr", ReconParams(model_path=str(FIX / "promptmr_plus_kt2d.ckpt")))
    outs = {w: rec(Acquisition.from_arrays(kus * mask[:, None, None], mask, "Uniform2", acs_width=w,
                                           meta={"modality": "cine"})) for w in (4, 12)}
    model, _ = load_published(FIX / "promptmr_plus_kt2d.ckpt", "promptmr")
    k = torch.from_numpy((kus * mask[:, None, None])[[2, 0, 1], 0].transpose(0, 1, 3, 2).reshape(3 * nc, nx, ny)
                         .copy())[None]
    m = torch.from_numpy(np.repeat(mask[[2, 0, 1]].transpose(0, 2, 1)[:, None], nc, 1).reshape(3 * nc, nx, ny)
                         > 0)[None]
    with torch.no_grad():
        ref = model(k, m, 4, "lines")[0].numpy().T
    np.testing.assert_allclose(outs[4][0, 0], ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    assert not np.allclose(outs[4], outs[12])


def test_workflow_knows_the_published_methods():
    from cardiomm import workflow as wf
    from cardiomm.compare.audit import method_label
    from cardiomm.methods import METHODS, PUBLISHED_METHODS

    assert set(PUBLISHED_METHODS) <= set(METHODS) and set(PUBLISHED_METHODS) <= set(wf.NEURAL)
    assert method_label("cardiomm") == "CardioMM-style (ours)" and method_label("promptmr") == "PromptMR+"
    cfg = {"models": {"cardiomm_official": "w.ckpt", "segmentation": "s.pt"}}
    with pytest.raises(wf.ConfigError, match="published.clip_dir is missing"):
        wf._check_models(cfg, ["cardiomm_official"])
    wf._check_models({**cfg, "published": {"clip_dir": "clip"}}, ["cardiomm_official"])
    with pytest.raises(wf.ConfigError, match="models.promptmr is missing"):
        wf._check_models(cfg, ["promptmr"])


def test_paper_configuration_size():
    """The published training configuration (10 cascades, one frame, CLIP 512 -> 256) has the official
    model's 63.4 M trainable parameters, 1.56 M of them in the text-conditioned sensitivity network."""
    from cardiomm.recon.learned.networks.blocks import count_parameters
    from cardiomm.recon.learned.networks.cardiomm_official import PAPER_CONFIG

    model = CardioMMOfficial(PAPER_CONFIG)
    assert count_parameters(model) == 63_440_716
    assert count_parameters(model.metausunetlight.sens_net) == 1_557_098
