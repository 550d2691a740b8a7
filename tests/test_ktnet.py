"""k-t Net (issue 28 item 2): the x-y-t series network, its series samples, training and series inference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_infer import META, NX, NY, TRAIN, _series, _split, cohort  # noqa: F401 - the module fixture

from cardiomm.acquisition import Acquisition
from cardiomm.physics.coils import rss
from cardiomm.physics.fft import ifft2c
from cardiomm.recon.learned import training_task as train_mod
from cardiomm.recon.learned.architectures import arch_of, build_model
from cardiomm.recon.learned.data import FrameDataset, prepare_series
from cardiomm.recon.learned.infer import reconstruct_series
from cardiomm.recon.learned.model_files import load_model
from cardiomm.recon.learned.networks.ktnet import KTNet, KTNetConfig, XYTBlock, series_norm, shift_frames
from cardiomm.recon.learned.sample import collate_samples, series_scale
from cardiomm.sampling.masks import acs_mask, make_mask

TINY = dict(cascades=2, features=4, levels=1, sens_features=4, sens_levels=1)


def _sample(name: str = "ktGaussian8", nt: int = 5, kind: str = "cine", seed: int = 0):  # noqa: ANN202
    kfull = torch.from_numpy(_series(nt, 1, seed)[:, 0])
    mask = torch.from_numpy(make_mask(name, nt, NY, NX, seed=seed, acs=8))
    acs = torch.from_numpy(acs_mask(name, NY, NX, acs=8))
    return prepare_series(kfull * mask[:, None], mask, acs, kind, kfull=kfull), kfull, mask


def test_series_sample_is_one_scale_for_the_whole_series() -> None:
    s, kfull, mask = _sample()
    assert s.adjacent.shape == (5, 4, NY, NX) and s.adjacent_mask.shape == (5, NY, NX)
    assert s.target.shape == (5, NY, NX) and s.kspace.shape == (4, NY, NX) and bool(s.circular)
    # the scale is homogeneous of degree 1, so the normalised sample does not depend on the k-space's units
    s2 = prepare_series(3 * kfull * mask[:, None], mask, s.acs[0], "cine", kfull=3 * kfull)
    assert float(s2.scale) == pytest.approx(3 * float(s.scale), rel=1e-5)
    torch.testing.assert_close(s2.adjacent, s.adjacent, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(s2.target, s.target, rtol=1e-5, atol=1e-6)
    # the target keeps the frames' relative intensities: it is the RSS over one scale, not per-frame scales
    torch.testing.assert_close(s.target * s.scale, rss(ifft2c(kfull)).float(), rtol=1e-5, atol=1e-5)
    assert float(series_scale(torch.zeros(2, 1, 4, 4, dtype=torch.complex64))) == 1.0
    assert not bool(prepare_series(kfull, torch.ones(5, NY, NX), s.acs[0], "mapping").circular)
    with pytest.raises(ValueError, match="prepare_series: kspace"):
        prepare_series(kfull, mask[:3], s.acs[0])


def test_shift_frames_wraps_for_cine_and_repeats_the_ends_for_mapping() -> None:
    h = torch.arange(2 * 4, dtype=torch.float32).reshape(2 * 4, 1)  # 2 series of 4 frames: 0..3, 4..7
    assert shift_frames(h, 4, 1, True).flatten().tolist() == [1, 2, 3, 0, 5, 6, 7, 4]
    assert shift_frames(h, 4, -1, True).flatten().tolist() == [3, 0, 1, 2, 7, 4, 5, 6]
    assert shift_frames(h, 4, 1, False).flatten().tolist() == [1, 2, 3, 3, 5, 6, 7, 7]
    assert shift_frames(h, 4, -2, False).flatten().tolist() == [0, 0, 0, 1, 4, 4, 4, 5]


@pytest.mark.parametrize("circular", [True, False])
def test_xyt_block_is_the_3d_convolution_it_stands_for(circular: bool) -> None:
    """The frame-layout block computes what a (1, 3, 3) and a (kt, 1, 1) Conv3d with instance norm over the
    series compute, with circular or replicated temporal padding."""
    torch.manual_seed(0)
    B, T, cin, cout, kt = 2, 5, 3, 4, 3
    blk = XYTBlock(cin, cout, kt).double()
    with torch.no_grad():
        blk.norm_w.uniform_(0.5, 1.5)
        blk.norm_b.uniform_(-0.5, 0.5)
    x = torch.randn(B, cin, T, 6, 7, dtype=torch.float64)
    got = blk(x.transpose(1, 2).reshape(B * T, cin, 6, 7), T, circular).reshape(B, T, cout, 6, 7).transpose(1, 2)

    act = torch.nn.functional.leaky_relu
    gn1 = torch.nn.GroupNorm(cout, cout).double()
    gn2 = torch.nn.GroupNorm(cout, cout).double()
    with torch.no_grad():
        gn1.weight.copy_(blk.norm_w[0]), gn1.bias.copy_(blk.norm_b[0])
        gn2.weight.copy_(blk.norm_w[1]), gn2.bias.copy_(blk.norm_b[1])
        w_s = blk.spatial.weight[:, :, None]  # (cout, cin, 1, 3, 3)
        w_t = blk.temporal.weight[:, :, 0, 0].reshape(cout, kt, cout).permute(0, 2, 1)[..., None, None]
        y = act(gn1(torch.nn.functional.conv3d(x, w_s, padding=(0, 1, 1))), 0.1)
        p = kt // 2
        idx = torch.arange(-p, T + p)
        y = y[:, :, idx % T if circular else idx.clamp(0, T - 1)]
        y = act(gn2(torch.nn.functional.conv3d(y, w_t)), 0.1)
        want = y + torch.nn.functional.conv3d(x, blk.skip.weight[:, :, None], blk.skip.bias)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_series_norm_is_instance_norm_over_the_series() -> None:
    torch.manual_seed(1)
    h = torch.randn(3 * 4, 2, 5, 5, dtype=torch.float64) * torch.arange(1, 13, dtype=torch.float64)[:, None, None, None]
    w, b = torch.tensor([1.5, 0.5], dtype=torch.float64), torch.tensor([0.1, -0.2], dtype=torch.float64)
    got = series_norm(h, 4, w, b).reshape(3, 4, 2, 5, 5).transpose(1, 2)
    want = torch.nn.functional.group_norm(h.reshape(3, 4, 2, 5, 5).transpose(1, 2), 2, w, b, eps=1e-5)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def _net(**kw) -> KTNet:  # noqa: ANN003
    torch.manual_seed(0)
    return KTNet(KTNetConfig(**{**TINY, **kw})).eval()


def test_hard_dc_keeps_every_frames_own_samples() -> None:
    s, kfull, mask = _sample("ktRadial8", nt=4)
    b = collate_samples([s])
    net = _net().set_hard_dc()
    with torch.no_grad():
        out = net.forward_all(b)
    assert out["image"].shape == (1, 4, NY, NX) and out["image"].is_complex()
    sampled = (mask > 0)[None, :, None].expand_as(out["kspace"])
    torch.testing.assert_close(out["kspace"][sampled], b.adjacent[sampled], rtol=0, atol=0)
    assert (out["kspace"][~sampled].abs() > 0).any()  # the network filled the unsampled points


def test_cine_output_follows_a_circular_shift_of_the_series() -> None:
    """Cine time is periodic: rolling the frames (k-space and masks) rolls the reconstruction, because the maps come
    from the time average, the norms span the series and the temporal convolutions wrap around."""
    s, _, _ = _sample("ktGaussian8", nt=5)
    net = _net()
    b = collate_samples([s])
    rolled = b.replace(adjacent=b.adjacent.roll(2, dims=1), adjacent_mask=b.adjacent_mask.roll(2, dims=1))
    with torch.no_grad():
        y, y_rolled = net(b), net(rolled)
    torch.testing.assert_close(y_rolled, y.roll(2, dims=1), rtol=1e-4, atol=1e-5 * float(y.abs().max()))
    with torch.no_grad():  # a mapping series is not periodic: the same roll is not an equivariance there
        m = net(b.replace(circular=torch.tensor([False])))
        m_rolled = net(rolled.replace(circular=torch.tensor([False])))
    assert not torch.allclose(m_rolled, m.roll(2, dims=1), rtol=1e-3, atol=1e-3 * float(m.abs().max()))


def test_forward_rejects_a_frame_sample_and_a_mixed_batch() -> None:
    s, _, _ = _sample()
    net = _net()
    with pytest.raises(ValueError, match="no adjacent"):
        net(collate_samples([s.replace(adjacent=None, adjacent_mask=None)]))
    mixed = collate_samples([s, s.replace(circular=torch.tensor(False))])
    with pytest.raises(ValueError, match="mixes cine"):
        net(mixed)


def test_series_dataset_keeps_the_frame_budget(cohort: list) -> None:  # noqa: F811
    train = _split(cohort, "train")
    ds = FrameDataset(train, ["cine", "t1map"], max_frames_per_subject=4, seed=0, acs_lines=8, series=True)
    # cine 4 frames x 2 slices: 4 // 4 = 1 slice per subject; T1 3 frames x 1 slice: its one slice
    assert len(ds) == 2 * (1 + 1)
    s = ds[0]
    nt = ds.shapes[(ds.frames[0].subject, ds.frames[0].modality)][0]
    assert s.adjacent.shape[0] == nt and s.target.shape == (nt, NY, NX)
    with pytest.raises(ValueError, match="series dataset"):
        FrameDataset(train, ["cine"], adjacent=3, series=True)


def test_ktnet_trains_on_series_and_infers_what_it_trained_on(cohort: list, tmp_path: Path) -> None:  # noqa: F811
    """The one training engine trains the k-t Net on series samples (loss over every frame); the checkpoint loads
    as method ktnet; series inference feeds the network exactly a training sample and returns its output times
    the series scale; scaling the k-space scales the reconstruction."""
    train, val = _split(cohort, "train"), _split(cohort, "val")
    cfg = dict(TRAIN, epochs=2, steps_per_epoch=3, batch_size=1, val_frames=2)
    tc = train_mod.TrainConfig.from_dict(cfg)
    torch.manual_seed(tc.seed)
    loader = train_mod._val_loader(val, ["cine", "t1map"], tc, 0, None, series=True)
    before = train_mod.evaluate(build_model("ktnet", TINY), loader, torch.device("cpu"), tc)["loss"]
    out = tmp_path / "ktnet.pt"
    m = train_mod.train_model("ktnet", TINY, cfg, train, val, ["cine", "t1map"], out, tmp_path / "logs",
                              progress=False)
    assert m["steps"] == 6 and math.isfinite(m["val_loss"]) and m["val_loss"] < before
    assert m["n_train_frames"] > m["n_train_samples"]  # frames counted, not series
    model, _ = load_model(out, "ktnet")
    assert arch_of(model) == "ktnet" and model.series

    ds = FrameDataset(val, ["cine"], ("ktRadial",), (8,), seed=5, fixed_masks=True, acs_lines=8, series=True)
    ref, sample = ds.frames[0], ds[0]
    kfull = ds._kspace((ref.subject, ref.modality))
    nt, nz, _, ny, nx = kfull.shape
    name, mask, _ = ds.draw_mask(0, nt, ny, nx)
    acq = Acquisition.from_arrays(kfull * mask[:, None, None], mask, name, 8, dict(META, modality="cine"))
    seen: list = []
    hook = model.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    try:
        series = reconstruct_series(model, acq)
    finally:
        hook.remove()
    assert series.shape == (nt, nz, ny, nx) and np.isfinite(series).all()
    fed = seen[ref.z]
    torch.testing.assert_close(fed.adjacent[0], sample.adjacent, rtol=1e-6, atol=0)
    with torch.no_grad():
        trained = train_mod.run_batch(model, collate_samples([sample]), torch.device("cpu"))[0]
    np.testing.assert_allclose(series[:, ref.z], (trained * sample.scale).numpy(), rtol=1e-5,
                               atol=1e-6 * float(series.max()))
    twice = reconstruct_series(model, Acquisition.from_arrays(2 * acq.kspace, mask, name, 8,
                                                              dict(META, modality="cine")))
    np.testing.assert_allclose(twice, 2 * series, rtol=1e-4, atol=1e-6 * float(series.max()))


def test_measure_step_seconds_runs_the_series_network() -> None:
    res = train_mod.measure_step_seconds("ktnet", TINY, nc=2, ny=24, nx=32, steps=2, infer_repeats=1,
                                         series_frames=3)
    assert res["n_parameters"] == train_mod.count_parameters(build_model("ktnet", TINY))
    assert res["train_step_s"] > 0 and res["infer_frame_s"] > 0
