"""Channel-attention building blocks shared by the published CardioMM and PromptMR+ architectures.

Both published models (wangziblake/CardioMM_MMCMR-427K, hellopipu/PromptMR-plus) build their U-Nets from
the same residual channel-attention block (CAB, from MPRNet/PromptIR) and the same encoder/decoder/skip
blocks. They are written here once, from the papers' and repositories' description, with the **attribute
names of the published modules** (``body``, ``CA.conv_du``, ``encoder``, ``down``, ``fuse``, ``reduce``,
``up``, ``ca``, ``skip_attn``) because those names are the keys of the released checkpoints.

All tensors are real ``(B, channels, H, W)``, except the complex k-space of :func:`by_frame` /
:func:`frame_operator`, the layout of the published networks' data consistency.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from cardiomm.physics.sense import OperatorFactory, SenseOp

#: the per-level (three-value) fields of :class:`CABUnetConfig`
LEVEL_FIELDS = ("feature_dim", "prompt_dim", "sens_feature_dim", "sens_prompt_dim", "len_prompt", "prompt_size",
                "n_enc_cab", "n_dec_cab", "n_skip_cab")


@dataclass
class CABUnetConfig:
    """Hyper-parameters both published architectures share, named as their official arguments (defaults: the
    published classes' defaults): cascades, adjacent frames, the widths, prompt banks and CAB counts of the
    cascade U-Net (``n_feat0``, ``feature_dim``, ``prompt_dim``) and of the sensitivity U-Net (``sens_*``), and
    whether the sensitivity network sees the ACS only (``mask_center``). Subclasses add their own fields (and
    may change a default, e.g. PromptMR+'s ``len_prompt``)."""

    num_cascades: int = 12
    num_adj_slices: int = 5
    n_feat0: int = 48
    feature_dim: tuple[int, ...] = (72, 96, 120)
    prompt_dim: tuple[int, ...] = (24, 48, 72)
    sens_n_feat0: int = 24
    sens_feature_dim: tuple[int, ...] = (36, 48, 60)
    sens_prompt_dim: tuple[int, ...] = (12, 24, 36)
    len_prompt: tuple[int, ...] = (3, 3, 3)
    prompt_size: tuple[int, ...] = (64, 32, 16)
    n_enc_cab: tuple[int, ...] = (2, 3, 3)
    n_dec_cab: tuple[int, ...] = (2, 2, 3)
    n_skip_cab: tuple[int, ...] = (1, 1, 1)
    n_bottleneck_cab: int = 3
    no_use_ca: bool = False
    mask_center: bool = True

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in LEVEL_FIELDS:
            value = tuple(int(v) for v in getattr(self, f))
            if len(value) != 3:
                raise ValueError(f"{name}.{f} needs 3 values (one per level), got {value}")
            setattr(self, f, value)
        if self.num_adj_slices < 1 or self.num_adj_slices % 2 != 1:
            raise ValueError(f"{name}.num_adj_slices must be odd, got {self.num_adj_slices}")
        if self.num_cascades < 1:
            raise ValueError(f"{name}.num_cascades must be >= 1, got {self.num_cascades}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


def conv(cin: int, cout: int, kernel_size: int, bias: bool = False, stride: int = 1) -> nn.Conv2d:
    """'Same' convolution (padding ``kernel_size // 2``)."""
    return nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=bias, stride=stride)


class CALayer(nn.Module):
    """Channel attention: global average pool, 1x1 bottleneck (ReLU), 1x1 expansion, sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 16, bias: bool = False) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        hidden = channels // reduction
        if hidden < 1:
            raise ValueError(f"CALayer: {channels} channels with reduction {reduction} leaves no hidden channel")
        self.conv_du = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=bias), nn.ReLU(inplace=True),
                                     nn.Conv2d(hidden, channels, 1, bias=bias), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


class CAB(nn.Module):
    """Residual channel-attention block: ``x + CA(conv(act(conv(x))))``; no normalisation layers.

    ``act`` is a module instance; passing the same instance to many blocks shares its parameters (the
    published U-Nets share one PReLU across all blocks that take the default activation).
    """

    def __init__(self, n_feat: int, kernel_size: int, reduction: int, bias: bool, act: nn.Module,
                 no_use_ca: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(n_feat, n_feat, kernel_size, bias), act, conv(n_feat, n_feat, kernel_size, bias))
        self.CA = nn.Identity() if no_use_ca else CALayer(n_feat, reduction, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.CA(self.body(x)) + x


def cabs(n: int, n_feat: int, kernel_size: int, reduction: int, bias: bool, act: nn.Module,
         no_use_ca: bool) -> nn.Sequential:
    """``n`` CABs in sequence."""
    return nn.Sequential(*[CAB(n_feat, kernel_size, reduction, bias, act, no_use_ca) for _ in range(n)])


class DownBlock(nn.Module):
    """``n_cab`` CABs (the skip feature) then a stride-2 3x3 convolution with bias (the next level)."""

    def __init__(self, cin: int, cout: int, n_cab: int, kernel_size: int, reduction: int, bias: bool,
                 act: nn.Module, no_use_ca: bool = False, first_act: bool = False) -> None:
        super().__init__()
        blocks = [CAB(cin, kernel_size, reduction, bias, nn.PReLU() if (first_act and i == 0) else act, no_use_ca)
                  for i in range(n_cab)]
        self.encoder = nn.Sequential(*blocks)
        self.down = nn.Conv2d(cin, cout, kernel_size=3, stride=2, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(downsampled (B, cout, H/2, W/2), skip (B, cin, H, W))``."""
        enc = self.encoder(x)
        return self.down(enc), enc


class SkipBlock(nn.Module):
    """``n_cab`` CABs on a skip connection (identity, with no parameters, when ``n_cab == 0``)."""

    def __init__(self, channels: int, n_cab: int, kernel_size: int, reduction: int, bias: bool, act: nn.Module,
                 no_use_ca: bool = False) -> None:
        super().__init__()
        self.skip_attn = (nn.Identity() if n_cab == 0
                          else cabs(n_cab, channels, kernel_size, reduction, bias, act, no_use_ca))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_attn(x)


class UpBlock(nn.Module):
    """Decoder level: concatenate a prompt, CABs, 1x1 reduce, bilinear x2 + 1x1 conv, add skip, one CAB."""

    def __init__(self, in_dim: int, out_dim: int, prompt_dim: int, n_cab: int, kernel_size: int, reduction: int,
                 bias: bool, act: nn.Module, no_use_ca: bool = False) -> None:
        super().__init__()
        self.fuse = cabs(n_cab, in_dim + prompt_dim, kernel_size, reduction, bias, act, no_use_ca)
        self.reduce = nn.Conv2d(in_dim + prompt_dim, in_dim, kernel_size=1, bias=bias)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                nn.Conv2d(in_dim, out_dim, 1, bias=False))
        self.ca = CAB(out_dim, kernel_size, reduction, bias, act, no_use_ca)

    def forward(self, x: torch.Tensor, prompt: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x (B, in_dim, h, w)``, ``prompt (B, prompt_dim, h, w)``, ``skip (B, out_dim, 2h, 2w)``."""
        x = self.reduce(self.fuse(torch.cat([x, prompt], dim=1)))
        return self.ca(self.up(x) + skip)


def pad_to_multiple(x: torch.Tensor, multiple: int = 8) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad the last two axes to multiples of ``multiple`` (extra column/row on the right/bottom).

    Returns the padded tensor and ``(top, bottom, left, right)``.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    pads = (ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
    return torch.nn.functional.pad(x, (pads[2], pads[3], pads[0], pads[1])), pads


def unpad(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Inverse of :func:`pad_to_multiple`."""
    top, bottom, left, right = pads
    return x[..., top: x.shape[-2] - bottom, left: x.shape[-1] - right]


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """Complex ``(B, C, H, W)`` -> real ``(B, 2C, H, W)`` as ``[real parts, imaginary parts]``."""
    return torch.cat([x.real, x.imag], dim=1)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`complex_to_channels`."""
    c = x.shape[1] // 2
    return torch.complex(x[:, :c].contiguous(), x[:, c:].contiguous())


def standardise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x - mean) / std`` per batch item over all other axes (unbiased std); returns ``(x, mean, std)``."""
    flat = x.flatten(1)
    mean = flat.mean(dim=1).view(-1, 1, 1, 1)
    std = flat.std(dim=1).view(-1, 1, 1, 1)
    return (x - mean) / std, mean, std


def by_frame(x: torch.Tensor, frames: int) -> torch.Tensor:
    """The published networks' frame-major channels as frames x coils: ``(B, F*C, H, W)`` -> ``(B, F, C, H, W)``.

    A view (no copy), so values and their order are those of the official layout; a mask with one channel,
    ``(B, 1, H, W)``, becomes ``(B, 1, 1, H, W)`` (broadcast over frames and coils).
    """
    B, N, H, W = x.shape
    if N == 1:
        return x.reshape(B, 1, 1, H, W)
    if N % frames:
        raise ValueError(f"by_frame: {N} channels are not {frames} frames x coils")
    return x.reshape(B, frames, N // frames, H, W)


def frame_operator(maps: torch.Tensor, mask: torch.Tensor, op: OperatorFactory = SenseOp) -> SenseOp:
    """The data-consistency operator of the published networks: ``A = M F S`` per frame.

    ``maps`` complex ``(B, F, C, H, W)``, ``mask`` bool ``(B, 1 or F, 1 or C, H, W)`` (:func:`by_frame`);
    ``A`` maps the coil-combined frames ``(B, F, H, W)`` to the frames' coil k-space ``(B, F, C, H, W)``.
    The official code's coil reduce (``sum_c conj(S_c) F^-1 k_c`` per frame) is ``A.unmasked().H``, its
    expand (``F (S_c x)``, the frame repeated over its coils) is ``A.unmasked()``, and its zero-filled image
    and ``A^H A x`` are ``A.H`` and ``A.N``.
    """
    return op(maps, mask)
