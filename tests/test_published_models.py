"""The published CardioMM and PromptMR+ ports against numbers recorded from the official code.

The fixtures in ``tests/fixtures/`` were written by running the official code in a scratch folder outside the
repository, on seeded tiny configurations at batch size 1 with perturbed random weights: ``<name>.ckpt`` holds the
official module's state dict (Lightning layout), ``<name>_io.npz`` the inputs, the official output, the port's
config and the provenance (``official_repo``, ``official_commit``, ``official_note``). No official code is in the
repository.

* CardioMM (wangziblake/CardioMM_MMCMR-427K c4938c6: ``models/CardioMM_model.py``, the same code as dfbf7a9;
  ``utils.py`` ``KspaceACSExtractor`` at 2fec317; the ``LMHead`` heads; fastmri 0.3.0).
* PromptMR+ (hellopipu/PromptMR-plus): ``ba66423`` (the first five fixtures), ``0dd8ce5`` (``*_release``,
  ``*_c3f1``: the adaptive-input order of every commit before 2025-09-04, the same model files as the newest
  commit in the search index, 1672606) and ``934eeda`` (``*_latest``, the newest upstream commit; its
  ``promptmr_v2.py`` needs the ``n_buffer`` attribute it never sets on a cascade, so that run set it, as the
  ``official_note`` says). Each records its ``buffer_order``.
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
from cardiomm.recon.learned.networks.promptmr import (
    BUFFER_ORDERS,
    PromptMR,
    PromptMRConfig,
    acs_kind_for,
    adaptive_buffer,
)

FIX = Path(__file__).parent / "fixtures"
CMM = ["uniform1d", "kt2d", "random1d_inferred", "c3f1"]
PMR = ["plus_uniform1d", "plus_kt2d", "plain_inferred", "v2_uniform1d", "v2_kt2d",
       "plus_nb3_release", "plus_nb6_latest", "v2_nb6_release", "v2_nb3_latest", "v2_c3f1", "plus_c3f1"]
TOL = 1e-5


def _io(prefix: str, name: str) -> dict:
    io = np.load(FIX / f"{prefix}_{name}_io.npz")
    k = torch.view_as_complex(torch.from_numpy(io["kspace"]).contiguous())
    m = torch.from_numpy(io["mask"])[..., 0]  # official (1, 1 or N, 1 or H, W, 1) -> (1, 1 or N, 1 or H, W)
    m = m.expand(m.shape[0], m.shape[1], k.shape[2], k.shape[3])
    out = {"kspace": k, "mask": m, "acs": int(io["num_low_frequencies"]), "mask_type": str(io["mask_type"]),
           "output": torch.from_numpy(io["output"]), "config": json.loads(str(io["config"])),
           "official": (str(io["official_repo"]), str(io["official_commit"]), str(io["official_note"]))}
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


def _pmr(name: str, io: dict, **over: object) -> PromptMR:
    """A PromptMR+ fixture's model: config from the checkpoint's hyper_parameters (as for a released file) plus
    the fixture's ``buffer_order`` (which no official checkpoint records)."""
    model, _ = load_published(FIX / f"promptmr_{name}.ckpt", "promptmr",
                              {"buffer_order": io["config"]["buffer_order"], **over})
    return model


@pytest.mark.parametrize("name", PMR)
def test_promptmr_reproduces_official_outputs(name):
    io = _io("promptmr", name)
    model = _pmr(name, io)
    assert model.config.n_history == io["config"]["n_history"]
    assert model.config.n_buffer == io["config"]["n_buffer"]
    out = _run_pmr(model, io)
    assert _rel(out, io["output"]) <= TOL


@pytest.mark.parametrize("name", [n for n in PMR if n not in ("plus_uniform1d", "v2_uniform1d", "plain_inferred",
                                                               "plus_c3f1")])
def test_promptmr_buffer_order_is_what_the_fixture_tests(name):
    """At ``n_buffer`` other than 4 the two official orders give different networks: the other order misses
    the official output by far more than the tolerance (so each fixture pins its order)."""
    io = _io("promptmr", name)
    assert io["config"]["n_buffer"] != 4 and io["config"]["adaptive_input"]
    other = next(o for o in BUFFER_ORDERS if o != io["config"]["buffer_order"])
    assert _rel(_run_pmr(_pmr(name, io, buffer_order=other), io), io["output"]) > 100 * TOL


def test_promptmr_buffer_orders_agree_at_four_and_default_to_the_release():
    io = _io("promptmr", "plus_uniform1d")
    assert io["config"]["n_buffer"] == 4
    a, b = (_run_pmr(_pmr("plus_uniform1d", io, buffer_order=o), io) for o in BUFFER_ORDERS)
    assert torch.equal(a, b)
    assert PromptMRConfig().buffer_order == "repeat_difference"
    with pytest.raises(ValueError, match="buffer_order"):
        PromptMRConfig(buffer_order="newest")
    x, lat, zf = (torch.full((1, 1, 2, 2), v, dtype=torch.complex64) for v in (1.0, 2.0, 3.0))
    assert adaptive_buffer(x, lat, zf, 5, "repeat_difference")[0, :, 0, 0].tolist() == [1, 2, 3, -2, -2]
    assert adaptive_buffer(x, lat, zf, 5, "repeat_latent")[0, :, 0, 0].tolist() == [1, 2, 2, 3, -2]
    assert adaptive_buffer(x, lat, zf, 3, "repeat_latent")[0, :, 0, 0].tolist() == [1, 3, -2]  # no latent at 3


@pytest.mark.parametrize("prefix,name", [("cardiomm_official", n) for n in CMM] + [("promptmr", n) for n in PMR])
def test_every_fixture_records_its_official_commit(prefix, name):
    repo, commit, _ = _io(prefix, name)["official"]
    assert repo == {"cardiomm_official": "wangziblake/CardioMM_MMCMR-427K",
                    "promptmr": "hellopipu/PromptMR-plus"}[prefix]
    assert len(commit) == 40 and int(commit, 16) >= 0


def test_first_encoder_block_exists_without_encoder_cabs():
    """Both official encoders build their first block outside the count, so ``n_enc_cab[0] = 0`` still has
    ``enc_level1.encoder.0`` (the c3f1 fixtures load strictly with it and reproduce the official output)."""
    cfg = dict(_io("cardiomm_official", "c3f1")["config"])
    assert cfg["n_enc_cab"][0] == 0
    keys = CardioMMOfficial(CardioMMOfficialConfig(**cfg)).state_dict().keys()
    assert "metausunetlight.cascades.0.model.unet.enc_level1.encoder.0.body.0.weight" in keys
    assert "metausunetlight.cascades.0.model.unet.enc_level1.encoder.1.body.0.weight" not in keys
    pcfg = PromptMRConfig(**_io("promptmr", "v2_c3f1")["config"])
    assert pcfg.n_enc_cab[0] == 0 and "cascades.0.model.unet.enc_level1.encoder.0.CA.conv_du.0.weight" in \
        PromptMR(pcfg).state_dict()


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


def _load(arch: str, name: str, io: dict) -> torch.nn.Module:
    if arch == "cardiomm_official":
        return load_published(FIX / f"{arch}_{name}.ckpt", arch, io["config"])[0]
    return _pmr(name, io)


def _args(arch: str, io: dict) -> tuple:
    if arch == "cardiomm_official":
        return (io["kspace"], io["mask"], io["acs"], official_square_acs(io["mask_type"]), io["text_meta"],
                io["text_us"])
    return io["kspace"], io["mask"], io["acs"], acs_kind_for(io["mask_type"])


@pytest.mark.parametrize("arch,name", [("cardiomm_official", "kt2d"), ("cardiomm_official", "random1d_inferred"),
                                       ("promptmr", "plus_kt2d"), ("promptmr", "v2_uniform1d"),
                                       ("promptmr", "plain_inferred")])
def test_every_fft_goes_through_the_injected_operator(arch, name, monkeypatch):
    """The published ports take every Fourier transform from ``op(maps, mask)``: the data consistency per frame
    (maps ``(B, F, C, H, W)``), the ACS coil images and (k-space cascades) the output coil images with unit
    maps. A torch FFT outside a SenseOp method fails the run; the default gives the official output; a
    different operator changes the reconstruction."""
    io = _io(arch, name)
    model = _load(arch, name, io)
    frames = model.config.num_adj_slices
    calls: list[tuple[tuple, tuple | None]] = []
    inside = [0]

    def guarded(method):
        def run(self, *a):
            inside[0] += 1
            try:
                return method(self, *a)
            finally:
                inside[0] -= 1
        return run

    for meth in ("__call__", "adjoint"):
        monkeypatch.setattr(SenseOp, meth, guarded(getattr(SenseOp, meth)))
    for fn in ("fft2", "ifft2", "fftn", "ifftn"):
        original = getattr(torch.fft, fn)

        def fft(*a, _f=original, _n=fn, **kw):
            assert inside[0], f"torch.fft.{_n} called outside the injected operator"
            return _f(*a, **kw)
        monkeypatch.setattr(torch.fft, fn, fft)

    def recording(maps, mask):
        calls.append((tuple(maps.shape), None if mask is None else tuple(mask.shape)))
        return SenseOp(maps, mask)

    def scaled(maps, mask):  # a different (still linear) operator: maps scaled by 2
        return SenseOp(2 * maps, mask)

    with torch.no_grad():
        out = model(*_args(arch, io), op=recording)
        other = model(*_args(arch, io), op=scaled)
        default = model(*_args(arch, io))
    B, N, H, W = io["kspace"].shape
    dc = [c for c in calls if c[0] == (B, frames, N // frames, H, W)]
    unit = [c for c in calls if c[0] == (1, 1, 1, H, W)]
    assert len(dc) == 1 and dc[0][1] in ((B, 1, 1, H, W), (B, frames, N // frames, H, W))
    kspace_cascades = arch == "cardiomm_official" or model.config.model_version == "promptmr"
    assert len(unit) == (2 if kspace_cascades else 1) and len(calls) == len(dc) + len(unit)
    assert torch.equal(out, default)
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
