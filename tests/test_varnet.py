"""E2E-VarNet peer (MONAI) behind CardioMM's interface."""

from __future__ import annotations

import inspect

import pytest
import torch
from monai.networks.blocks.fft_utils_t import fftn_centered_t, ifftn_centered_t

from cardiomm.physics.fft import fft2c, ifft2c
from cardiomm.physics.sense import SenseOp
from cardiomm.recon.learned.networks.blocks import count_parameters
from cardiomm.recon.learned.networks.cardiomm import CardioMM, CardioMMConfig
from cardiomm.recon.learned.networks.varnet import VarNet, VarNetConfig, unet_features, varnet_config_matching
from cardiomm.recon.learned.sample import FrameSample
from cardiomm.sampling.masks import acs_mask, make_mask

TINY = VarNetConfig(cascades=2, features=4, sens_features=2)


@pytest.mark.parametrize("shape", [(3, 2, 16, 20), (1, 1, 15, 9)])
def test_monai_fft_is_our_fft(shape: tuple[int, ...]) -> None:
    """MONAI's blocks transform with their own centred FFT: it must be the project's convention."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=torch.complex64, generator=g)
    torch.testing.assert_close(torch.view_as_complex(fftn_centered_t(torch.view_as_real(x), spatial_dims=2)),
                               fft2c(x))
    torch.testing.assert_close(torch.view_as_complex(ifftn_centered_t(torch.view_as_real(x), spatial_dims=2)),
                               ifft2c(x))


def _inputs(names: list[str], nc: int = 3, ny: int = 28, nx: int = 36) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    masks, acss = [], []
    for i, name in enumerate(names):  # one mask per sample, 2D ACS for ktRadial: MONAI's own forward can't
        masks.append(torch.from_numpy(make_mask(name, 1, ny, nx, seed=i, acs=8)[0]).float())
        acss.append(torch.from_numpy(acs_mask(name, ny, nx, acs=8)))
    mask = torch.stack(masks)[:, None]
    acs = torch.stack(acss)[:, None]
    k = torch.randn(len(names), nc, ny, nx, dtype=torch.complex64, generator=g)
    return k * mask, mask, acs


def _sample(k: torch.Tensor, mask: torch.Tensor, acs: torch.Tensor) -> FrameSample:
    return FrameSample(kspace=k, mask=mask, acs=acs, scale=torch.ones(k.shape[0]))


def test_varnet_wrapper_shapes_and_reads_only_kspace_mask_acs() -> None:
    torch.manual_seed(0)
    net = VarNet(TINY).eval()
    k, mask, acs = _inputs(["Uniform8", "ktRadial16", "ktGaussian4"])
    with torch.no_grad():
        out = net(_sample(k, mask, acs))
        # E2E-VarNet has no prompt or temporal input: a sample carrying them gives the same image
        out2 = net(_sample(k, mask, acs).replace(scan_tokens=torch.ones(3, 5, dtype=torch.long),
                                                 us_tokens=torch.ones(3, 2, dtype=torch.long),
                                                 us_cont=torch.ones(3, 1),
                                                 context=torch.zeros(3, 2, 28, 36, dtype=torch.complex64)))
    assert out.shape == (3, 28, 36) and out.dtype == torch.complex64
    assert torch.isfinite(torch.view_as_real(out)).all()
    torch.testing.assert_close(out, out2)
    assert list(inspect.signature(VarNet.forward).parameters) == ["self", "sample", "op"]
    # values outside the mask are ignored, like CardioMM
    with torch.no_grad():
        out3 = net(_sample(k + (1 - mask) * 5.0, mask, acs))
    torch.testing.assert_close(out3, out)


def test_varnet_cascades_equal_monai_blocks() -> None:
    """The injected SenseOp reproduces MONAI's own VarNetBlock.forward, cascade by cascade."""
    torch.manual_seed(0)
    net = VarNet(TINY).eval()
    k, mask, acs = _inputs(["Uniform8", "ktRadial16"])
    sampled = mask > 0
    with torch.no_grad():
        smaps = net.estimate_smaps(k, acs & sampled)
        k0r, smr, m = torch.view_as_real(k), torch.view_as_real(smaps), sampled.unsqueeze(-1)
        kr = k0r.clone()
        for blk in net.net.cascades:
            kr = blk(kr, k0r, m, smr).float()
        want = SenseOp(smaps).H(torch.view_as_complex(kr.contiguous()))
        torch.testing.assert_close(net(_sample(k, mask, acs)), want, rtol=1e-5, atol=1e-6)


def test_varnet_trains() -> None:
    torch.manual_seed(0)
    net = VarNet(TINY)
    k, mask, acs = _inputs(["Uniform4", "ktRadial8"])
    out = net(_sample(k, mask, acs))
    out.abs().mean().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert len(grads) == len(list(net.parameters()))
    assert net.net.cascades[1].dc_weight.grad.abs() > 0  # cascade 0 starts at k0: zero DC residual


def test_varnet_bad_inputs() -> None:
    net = VarNet(TINY)
    k, mask, acs = _inputs(["Uniform4"])
    with pytest.raises(ValueError, match="kspace must be complex"):
        net(_sample(k.real, mask, acs))
    with pytest.raises(ValueError, match="acs"):
        net(_sample(k, mask, acs[..., :-1]))
    with pytest.raises(ValueError, match="temporal_context"):
        VarNetConfig(temporal_context=1)


def test_parameter_count_is_configurable_and_matchable() -> None:
    assert unet_features(8) == (8, 8, 16, 32, 64, 8)
    counts = [count_parameters(VarNet(VarNetConfig(cascades=2, features=f, sens_features=2))) for f in (2, 3, 4)]
    assert counts[0] < counts[1] < counts[2]
    target = count_parameters(CardioMM(CardioMMConfig(cascades=2, features=6, levels=2)))
    cfg = varnet_config_matching(target, cascades=2, sens_features=2)
    err = abs(count_parameters(VarNet(cfg)) - target)
    for f in (cfg.features - 1, cfg.features + 1):
        other = abs(count_parameters(VarNet(VarNetConfig(cascades=2, features=f, sens_features=2))) - target)
        assert err <= other
