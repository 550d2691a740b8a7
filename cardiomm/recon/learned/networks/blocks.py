"""Building blocks of the CardioMM networks: conv blocks with channel attention, FiLM, prompt banks, U-Nets.

All tensors are real ``(B, channels, H, W)`` unless stated otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al. 2018): global average pool -> bottleneck MLP -> sigmoid channel weights."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 2)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.fc2(F.gelu(self.fc1(x.mean(dim=(-2, -1), keepdim=True)))))
        return x * w


class ConvBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and LeakyReLU, optional squeeze-excitation, residual 1x1 skip."""

    def __init__(self, cin: int, cout: int, se: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.InstanceNorm2d(cout, affine=True),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.InstanceNorm2d(cout, affine=True),
            nn.LeakyReLU(0.1, inplace=True),
        )
        self.se = SqueezeExcitation(cout) if se else nn.Identity()
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.body(x)) + self.skip(x)


class FiLMGate(nn.Module):
    """Scan-prompt conditioning of a feature map: gated feature-wise affine modulation.

    ``h' = h + g * (gamma * h + beta)`` with ``gamma, beta`` (per channel) and the gate ``g = sigmoid(.)``
    predicted from the scan vector. The projection starts at zero, so an untrained FiLM is the identity
    and prompts can only add to, never destroy, the image pathway.
    """

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cond_dim, 3 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta, gate = self.proj(cond)[:, :, None, None].chunk(3, dim=1)
        return h + torch.sigmoid(gate) * (gamma * h + beta)


class PromptBank(nn.Module):
    """A learned bank of ``n_components`` spatial prompt maps mixed by softmax weights of a condition vector.

    The mixed prompt (``channels`` x ``size`` x ``size``) is resized to the feature map, concatenated to it
    and fused by a 1x1 convolution (PromptIR-style injection). Used with the undersampling vector: each
    pattern/acceleration selects its own mixture of artefact-removal priors.
    """

    def __init__(self, feat_channels: int, cond_dim: int, n_components: int = 8, channels: int = 8,
                 size: int = 8) -> None:
        super().__init__()
        self.components = nn.Parameter(torch.randn(n_components, channels, size, size) * 0.1)
        self.weights = nn.Linear(cond_dim, n_components)
        self.fuse = nn.Conv2d(feat_channels + channels, feat_channels, 1)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.weights(cond), dim=1)  # (B, K)
        prompt = torch.einsum("bk,kchw->bchw", w, self.components)
        prompt = F.interpolate(prompt, size=h.shape[-2:], mode="bilinear", align_corners=False)
        return h + self.fuse(torch.cat([h, prompt.to(h.dtype)], dim=1))


class PromptUNet(nn.Module):
    """U-Net with channel-attention blocks, FiLM-gated decoder (scan prompt) and prompt banks (undersampling).

    Parameters
    ----------
    cin, cout: input/output channels.
    features: channels of the first level; level ``l`` has ``features * 2**l``.
    levels: number of downsamplings (input H, W are padded to a multiple of ``2**levels``).
    scan_dim, us_dim: sizes of the two prompt vectors; ``0`` disables that conditioning (plain U-Net).
    n_components, prompt_channels: prompt bank size.
    se: use squeeze-excitation in every block.

    ``forward(x (B, cin, H, W), scan (B, scan_dim) | None, us (B, us_dim) | None) -> (B, cout, H, W)``.
    """

    def __init__(self, cin: int, cout: int, features: int = 16, levels: int = 3, scan_dim: int = 0,
                 us_dim: int = 0, n_components: int = 8, prompt_channels: int = 8, se: bool = True) -> None:
        super().__init__()
        self.levels = levels
        ch = [features * 2**i for i in range(levels + 1)]
        self.enc = nn.ModuleList()
        prev = cin
        for c in ch[:-1]:
            self.enc.append(ConvBlock(prev, c, se))
            prev = c
        self.bottleneck = ConvBlock(ch[-2], ch[-1], se)
        self.up = nn.ModuleList(nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in reversed(range(levels)))
        self.dec = nn.ModuleList(ConvBlock(2 * ch[i], ch[i], se) for i in reversed(range(levels)))
        # conditioning at the bottleneck and at every decoder level
        dec_ch = [ch[-1]] + [ch[i] for i in reversed(range(levels))]
        self.film = nn.ModuleList(FiLMGate(c, scan_dim) for c in dec_ch) if scan_dim > 0 else None
        self.bank = (
            nn.ModuleList(PromptBank(c, us_dim, n_components, prompt_channels) for c in dec_ch) if us_dim > 0 else None
        )
        self.out = nn.Conv2d(ch[0], cout, 1)

    def _condition(self, i: int, h: torch.Tensor, scan: torch.Tensor | None, us: torch.Tensor | None) -> torch.Tensor:
        if self.bank is not None and us is not None:
            h = self.bank[i](h, us)
        if self.film is not None and scan is not None:
            h = self.film[i](h, scan)
        return h

    def forward(self, x: torch.Tensor, scan: torch.Tensor | None = None,
                us: torch.Tensor | None = None) -> torch.Tensor:
        H, W = x.shape[-2:]
        m = 2**self.levels
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:  # reflect keeps image statistics at the border better than zeros
            mode = "reflect" if ph < H and pw < W else "replicate"
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=mode)
        skips = []
        h = x
        for blk in self.enc:
            h = blk(h)
            skips.append(h)
            h = F.avg_pool2d(h, 2)
        h = self._condition(0, self.bottleneck(h), scan, us)
        for i, (up, dec) in enumerate(zip(self.up, self.dec)):
            h = dec(torch.cat([up(h), skips.pop()], dim=1))
            h = self._condition(i + 1, h, scan, us)
        y = self.out(h)
        if ph or pw:
            y = y[..., ph // 2: ph // 2 + H, pw // 2: pw // 2 + W]
        return y


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
