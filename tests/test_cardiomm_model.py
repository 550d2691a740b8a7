"""CardioMM network and metadata prompts: shapes, data consistency, unknown metadata, conditioning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cardiomm.conventions import MODALITIES, PATTERNS
from cardiomm.physics.coils import expand, reduce
from cardiomm.physics.fft import fft2c, ifft2c
from cardiomm.recon.learned import prompts
from cardiomm.recon.learned.data import prepare_frame
from cardiomm.recon.learned.networks.cardiomm import CardioMM, CardioMMConfig
from cardiomm.recon.learned.prompts import UNKNOWN, PromptConfig, PromptEncoder, encode_mask_name, encode_scan
from cardiomm.recon.learned.sample import FrameSample, collate_samples
from cardiomm.sampling.masks import acs_mask, make_mask

TINY = dict(cascades=2, features=4, levels=2, sens_features=4, sens_levels=1, scan_dim=8, us_dim=8, token_dim=4,
            n_components=4, prompt_channels=4)
NC, NY, NX, NT, ACS = 4, 32, 28, 4, 8
META = {"view": "sax", "field_strength_T": 3.0, "vendor": "Siemens", "scanner": "Prisma"}


def _phantom(nt: int = NT, nc: int = NC, ny: int = NY, nx: int = NX, seed: int = 0) -> torch.Tensor:
    """Smooth multi-coil k-space ``(nt, nc, ny, nx)`` of a moving ellipse with smooth coil maps."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, ny), torch.linspace(-1, 1, nx), indexing="ij")
    frames = []
    for t in range(nt):
        r = 0.5 + 0.05 * math.sin(2 * math.pi * t / nt)
        img = ((xx / 0.7) ** 2 + (yy / 0.8) ** 2 < 1).float() * (1 + 0.3 * xx) + 2.0 * ((xx**2 + yy**2) < r**2)
        frames.append(img * torch.exp(1j * 0.5 * yy))
    img = torch.stack(frames).to(torch.complex64)
    centres = torch.rand(nc, 2, generator=g) * 2 - 1
    maps = torch.stack([torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2)) * torch.exp(1j * (cx * xx + cy * yy))
                        for cx, cy in centres]).to(torch.complex64)
    k = fft2c(img[:, None] * maps[None])
    return k + 0.01 * torch.randn(k.shape, generator=g, dtype=torch.complex64)


def _batch(name: str, mod: str = "cine", k: int = 0, nc: int = NC, seed: int = 0) -> FrameSample:
    kfull = _phantom(nc=nc, seed=seed)
    mask = torch.from_numpy(make_mask(name, NT, NY, NX, seed=seed, acs=ACS))
    acs = torch.from_numpy(acs_mask(name, NY, NX, acs=ACS))
    frames = [prepare_frame(kfull, mask, t, acs, k, MODALITIES[mod].kind, kfull[t]) for t in (0, 1)]
    toks, cont = prompts.encode_mask_name(name)
    return collate_samples(frames).replace(scan_tokens=torch.tensor([encode_scan(META, mod)] * 2),
                                           us_tokens=torch.tensor([toks] * 2),
                                           us_cont=torch.tensor([[cont]] * 2, dtype=torch.float32))


def _run(model: CardioMM, b: FrameSample, **kw) -> torch.Tensor:
    return model(b, **kw)


@pytest.fixture(scope="module")
def model() -> CardioMM:
    torch.manual_seed(0)
    return CardioMM(CardioMMConfig(**TINY)).eval()


@pytest.mark.parametrize("mod", list(MODALITIES))
def test_output_shape_every_modality_and_pattern(model: CardioMM, mod: str) -> None:
    for pattern, R in zip(PATTERNS, (4, 16, 24)):
        b = _batch(f"{pattern}{R}", mod)
        with torch.no_grad():
            out = _run(model, b)
        assert out.shape == (2, NY, NX) and out.dtype == torch.complex64
        assert torch.isfinite(torch.view_as_real(out)).all()


def test_hard_dc_keeps_measured_multicoil_kspace_exactly(model: CardioMM) -> None:
    b = _batch("ktGaussian8")
    with torch.no_grad():
        soft = model.forward_all(b)
        model.set_hard_dc(True)
        try:
            hard = model.forward_all(b)
        finally:
            model.set_hard_dc(False)
    sampled = (b.mask > 0).expand_as(b.kspace)
    assert torch.equal(hard["kspace"][sampled], b.kspace[sampled])
    assert not torch.equal(soft["kspace"][sampled], b.kspace[sampled])  # soft DC blends
    # the returned image is the SENSE combination of that k-space with the estimated maps
    torch.testing.assert_close(hard["image"], reduce(ifft2c(hard["kspace"]), hard["smaps"]))
    # the maps have unit RSS
    torch.testing.assert_close(hard["smaps"].abs().pow(2).sum(1), torch.ones(2, NY, NX), atol=1e-4, rtol=1e-4)


def test_hard_dc_output_image_matches_measurement_single_coil() -> None:
    """expand(output, maps) -> fft2c equals the measurement at sampled points. With C coils this needs the data
    to lie in the range of the maps (S S^H = I), which holds exactly for a single normalised coil."""
    torch.manual_seed(1)
    net = CardioMM(CardioMMConfig(**TINY)).eval()
    b = _batch("Uniform4", nc=1)
    sampled = (b.mask > 0).expand_as(b.kspace)
    for hard in (True, False):
        net.set_hard_dc(hard)
        with torch.no_grad():
            r = net.forward_all(b)
        k_out = fft2c(expand(r["image"], r["smaps"]))
        err = (k_out[sampled] - b.kspace[sampled]).abs().max() / b.kspace.abs().max()
        assert (err < 1e-5) if hard else (err > 1e-3)


def test_dc_weights_are_learnable_and_bounded(model: CardioMM) -> None:
    net = CardioMM(CardioMMConfig(**TINY))
    w = net.dc_weights()
    assert w.shape == (TINY["cascades"],) and ((w > 0) & (w < 1)).all()
    b = _batch("Uniform8")
    _run(net, b).abs().mean().backward()
    assert net.dc_logit.grad is not None and net.dc_logit.grad.abs().sum() > 0


def test_unknown_metadata_is_accepted() -> None:
    odd = {"view": "short-axis-ish", "field_strength_T": 0.55, "vendor": "Bruker", "scanner": "uMR Jupiter 5T"}
    toks = encode_scan(odd, "cine")
    assert toks[0] != UNKNOWN and toks[1:] == [UNKNOWN] * 4
    assert encode_scan({"field_strength_T": 5.0}, "t2map")[2] == UNKNOWN
    assert encode_scan({}, "brain_flair") == [UNKNOWN] * 5  # nothing known at all
    net = CardioMM(CardioMMConfig(**TINY)).eval()
    b = _batch("ktRadial24")
    b = b.replace(scan_tokens=torch.tensor([toks, encode_scan({"field_strength_T": float("nan")}, "t1map")]),
                  us_tokens=torch.tensor([[UNKNOWN, UNKNOWN]] * 2), us_cont=torch.tensor([[math.log2(10)]] * 2))
    with torch.no_grad():
        out = _run(net, b)
    assert out.shape == (2, NY, NX) and torch.isfinite(torch.view_as_real(out)).all()


@pytest.mark.parametrize(
    ("b0", "tok"), [(1.5, 1), (3.0, 2), (2.89, 2), (1.4, 1), (0.55, UNKNOWN), (5.0, UNKNOWN), (7.0, UNKNOWN),
                    (float("nan"), UNKNOWN), (None, UNKNOWN), ("3", 2), ("n/a", UNKNOWN)],
)
def test_field_strength_buckets(b0: object, tok: int) -> None:
    assert prompts.field_strength_token(b0) == tok


def test_prompt_encoding_known_and_unknown_values() -> None:
    assert encode_scan({"view": "SAX", "vendor": "SIEMENS", "scanner": "Siemens Aera", "field_strength_T": 1.5},
                       "cine") == [1, 1, 1, 1, 1]
    assert prompts.vendor_token("UIH") == prompts.VENDOR_VOCAB.index("united_imaging") + 1
    assert prompts.vendor_token("Bruker") == UNKNOWN
    assert prompts.scanner_token("SIGNA Artist") == prompts.SCANNER_VOCAB.index("signa") + 1
    assert prompts.scanner_token("uMR790") == prompts.SCANNER_VOCAB.index("umr_790") + 1
    assert prompts.scanner_token("uMR Jupiter 5T") == UNKNOWN
    for i, R in enumerate(prompts.R_VOCAB):
        toks, cont = prompts.encode_undersampling("ktRadial", R)
        assert toks == [3, i + 1] and cont == pytest.approx(math.log2(R))
    assert encode_mask_name("Uniform8") == ([1, 2], 3.0)
    assert encode_mask_name("AccFactor04") == ([UNKNOWN, 1], 2.0)  # a release's pattern: unknown token, its R
    with pytest.raises(ValueError, match="invalid mask name 'Poisson10'"):  # outside the one mask grammar
        encode_mask_name("Poisson10")
    mask = np.zeros((2, 8, 8), np.uint8)
    mask[:, ::4] = 1
    assert encode_mask_name("Poisson10", mask) == ([UNKNOWN, 1], 2.0)  # then R is measured from the mask
    assert encode_mask_name("custom", mask) == ([UNKNOWN, 1], 2.0)  # R measured from the mask
    with pytest.raises(ValueError, match="acceleration"):
        prompts.encode_undersampling("Uniform", 0)


def test_prompt_encoder_treats_out_of_vocabulary_ids_as_unknown() -> None:
    torch.manual_seed(0)
    enc = PromptEncoder(PromptConfig())
    cont = torch.zeros(2, 1)
    s_unknown, u_unknown = enc(torch.zeros(1, 5, dtype=torch.long).repeat(2, 1), torch.zeros(2, 2, dtype=torch.long),
                               cont)
    s_oov, u_oov = enc(torch.tensor([[99, -1, 50, 7, 1000]] * 2), torch.tensor([[42, 99]] * 2), cont)
    torch.testing.assert_close(s_oov, s_unknown)
    torch.testing.assert_close(u_oov, u_unknown)
    with pytest.raises(ValueError, match="scan_tokens"):
        enc(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long), cont)


def test_prompts_condition_the_output() -> None:
    torch.manual_seed(0)
    net = CardioMM(CardioMMConfig(**TINY)).eval()
    for film in net.refine[0].film:  # FiLM starts as the identity; give it weights to see the pathway
        torch.nn.init.normal_(film.proj.weight, std=0.5)
    b = _batch("Uniform8")
    with torch.no_grad():
        ref = _run(net, b)
        b2 = b.replace(scan_tokens=torch.zeros_like(b.scan_tokens))
        b3 = b.replace(us_tokens=torch.tensor([[3, 6]] * 2), us_cont=torch.tensor([[math.log2(24)]] * 2))
        assert not torch.allclose(_run(net, b2), ref)
        assert not torch.allclose(_run(net, b3), ref)
    off = CardioMM(CardioMMConfig(**TINY, use_prompts=False)).eval()
    assert off.prompts is None
    with torch.no_grad():
        torch.testing.assert_close(_run(off, b), _run(off, b2))  # ablation: prompts ignored


def test_temporal_context_ablation() -> None:
    torch.manual_seed(0)
    base = CardioMM(CardioMMConfig(**TINY))
    ctx = CardioMM(CardioMMConfig(**TINY, temporal_context=2)).eval()
    n0, n1 = (sum(p.numel() for p in m.parameters()) for m in (base, ctx))
    first_conv = TINY["features"] * 8 * 9 * TINY["cascades"]  # 4k = 8 extra input channels per cascade
    assert n1 - n0 == first_conv + TINY["features"] * 8 * TINY["cascades"]  # 3x3 conv + 1x1 skip
    b = _batch("ktGaussian8", "cine", k=2)
    assert b.context.shape == (2, 4, NY, NX) and b.context.is_complex()
    with torch.no_grad():
        out = _run(ctx, b)
        rep = _run(ctx, b.replace(context=None))  # None = centre frame replicated
        other = _run(ctx, b.replace(context=torch.zeros_like(b.context)))  # the neighbours are used
    assert out.shape == rep.shape == (2, NY, NX)
    assert not torch.allclose(out, other)
    with pytest.raises(ValueError, match="context"):
        _run(ctx, b.replace(context=b.context[:, :2]))


def test_missing_acs_falls_back_to_sampled_points(model: CardioMM) -> None:
    b = _batch("Uniform4")
    with torch.no_grad():
        out = _run(model, b.replace(acs=torch.zeros_like(b.acs)))
    assert torch.isfinite(torch.view_as_real(out)).all() and out.abs().mean() > 0.1 * b.kspace.abs().mean()


def test_bad_inputs_raise_clear_errors(model: CardioMM) -> None:
    b = _batch("Uniform8")
    with pytest.raises(ValueError, match="kspace must be complex"):
        model(b.replace(kspace=b.kspace.real))
    with pytest.raises(ValueError, match="mask"):
        model(b.replace(mask=b.mask[:, :, :-1]))
    with pytest.raises(ValueError, match="us_tokens"):
        model(b.replace(us_tokens=b.us_tokens[:, :1]))
    with pytest.raises(ValueError, match="no scan_tokens"):
        model(b.replace(scan_tokens=None))
    with pytest.raises(ValueError, match="cascades"):
        CardioMMConfig(cascades=0)
