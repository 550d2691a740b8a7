"""Channel-attention building blocks and the U-Net shared by the published CardioMM and PromptMR+ architectures.

Both published models (wangziblake/CardioMM_MMCMR-427K, hellopipu/PromptMR-plus) build their U-Nets from
the same residual channel-attention block (CAB, from MPRNet/PromptIR), the same encoder/decoder/skip blocks
and the same three-level skeleton (:class:`CABUnet`); they differ only in what each decoder level adds (a
text- or image-driven prompt, text conditioning, history features). All of it is written here once, from the
papers' and repositories' description, with the **attribute names of the published modules** (``body``,
``CA.conv_du``, ``encoder``, ``down``, ``fuse``, ``reduce``, ``up``, ``ca``, ``skip_attn``, ``feat_extract``,
``enc_level<i>``, ``skip_attn<i>``, ``bottleneck``, ``<block>_level<i>``, ``conv_last``) because those names are
the keys of the released checkpoints.

All tensors are real ``(B, channels, H, W)``, except the complex k-space of :func:`by_frame` /
:func:`frame_operator` / :func:`coil_images`, the layout of the published networks' operators. Every Fourier
transform of the two networks goes through the injected operator (:func:`frame_operator`, :func:`coil_images`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
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

    def unet_kwargs(self, sens: bool) -> dict:
        """The :class:`CABUnet` arguments both architectures take from the config: those of the sensitivity
        U-Net (``sens_*`` widths) or of the cascade U-Nets; prompt banks and CAB counts are shared."""
        return dict(n_feat0=self.sens_n_feat0 if sens else self.n_feat0,
                    feature_dim=self.sens_feature_dim if sens else self.feature_dim,
                    prompt_dim=self.sens_prompt_dim if sens else self.prompt_dim,
                    len_prompt=self.len_prompt, prompt_size=self.prompt_size, n_enc_cab=self.n_enc_cab,
                    n_dec_cab=self.n_dec_cab, n_skip_cab=self.n_skip_cab, n_bottleneck_cab=self.n_bottleneck_cab,
                    no_use_ca=self.no_use_ca)


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
    """``n_cab`` CABs (the skip feature) then a stride-2 3x3 convolution with bias (the next level).

    With ``first_act`` (the first encoder level) the first CAB has its own PReLU and is built even when
    ``n_cab`` is 0, as in both official encoders (their first block is created outside the count), so an
    official checkpoint with ``n_enc_cab[0] = 0`` loads strictly and runs that block.
    """

    def __init__(self, cin: int, cout: int, n_cab: int, kernel_size: int, reduction: int, bias: bool,
                 act: nn.Module, no_use_ca: bool = False, first_act: bool = False) -> None:
        super().__init__()
        n = max(n_cab, 1) if first_act else n_cab
        blocks = [CAB(cin, kernel_size, reduction, bias, nn.PReLU() if (first_act and i == 0) else act, no_use_ca)
                  for i in range(n)]
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


class PromptBank(nn.Module):
    """The prompt of both published decoders: a frozen (``learnable=False``) random bank of ``prompt_len`` maps
    ``(prompt_dim, prompt_size, prompt_size)``, mixed by ``softmax(linear(v))``, resized (bilinear) to the decoder
    level and passed through a 3x3 convolution. Subclasses say what ``v`` is and name the linear layer
    (``linear_name``, a checkpoint key)."""

    linear_name = "linear_layer"

    def __init__(self, prompt_dim: int, prompt_len: int, prompt_size: int, in_dim: int,
                 learnable: bool = False) -> None:
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size),
                                         requires_grad=learnable)
        setattr(self, self.linear_name, nn.Linear(in_dim, prompt_len))
        self.dec_conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, kernel_size=3, padding=1, bias=False)

    def weights(self, v: torch.Tensor) -> torch.Tensor:
        """``v (B, in_dim)`` -> mixing weights ``(B, prompt_len)``."""
        return F.softmax(getattr(self, self.linear_name)(v), dim=1)

    def prompt(self, weights: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
        """``weights (B, prompt_len)`` -> prompt ``(B, prompt_dim, *size)``."""
        mixed = (weights[:, :, None, None, None] * self.prompt_param[0].unsqueeze(0)).sum(dim=1)
        return self.dec_conv3x3(F.interpolate(mixed, size=size, mode="bilinear"))


#: builds the blocks one decoder level adds: ``(level, in_dim, out_dim) -> {name: module}``, registered as
#: ``<name>_level<level>`` (e.g. ``prompt``, ``dec``, ``metacond``), in the published modules' order
LevelBlocks = Callable[[int, int, int], Mapping[str, nn.Module]]
#: one decoder step: ``(j, level, x, skip) -> x`` with ``j = 0, 1, 2`` for the levels 3, 2, 1
DecoderStep = Callable[[int, int, torch.Tensor, torch.Tensor], torch.Tensor]


class CABUnet(nn.Module):
    """The three-level CAB U-Net of both published architectures.

    ``feat_extract`` (3x3 conv) -> ``enc_level1..3`` (:class:`DownBlock`, the first with its own PReLU) ->
    ``bottleneck`` (CABs) -> decoder levels 3, 2, 1, each built by ``level_blocks`` and run by the subclass's
    :data:`DecoderStep` on the level's skip feature (after ``skip_attn<level>``) -> ``conv_last`` (5x5 conv).
    Input ``(B, in_chans, H, W)`` with ``H, W`` multiples of 8 (:func:`unet_input`), output
    ``(B, out_chans, H, W)``.
    """

    def __init__(self, in_chans: int, out_chans: int, n_feat0: int, feature_dim: tuple[int, ...],
                 n_enc_cab: tuple[int, ...], n_skip_cab: tuple[int, ...], n_bottleneck_cab: int, no_use_ca: bool,
                 act: nn.Module, level_blocks: LevelBlocks, kernel_size: int = 3, reduction: int = 4,
                 bias: bool = False) -> None:
        super().__init__()
        k, r, ca = kernel_size, reduction, no_use_ca
        f0, (f1, f2, f3) = n_feat0, feature_dim
        self.feat_extract = conv(in_chans, f0, k, bias)
        self.enc_level1 = DownBlock(f0, f1, n_enc_cab[0], k, r, bias, act, ca, first_act=True)
        self.enc_level2 = DownBlock(f1, f2, n_enc_cab[1], k, r, bias, act, ca)
        self.enc_level3 = DownBlock(f2, f3, n_enc_cab[2], k, r, bias, act, ca)
        self.skip_attn1 = SkipBlock(f0, n_skip_cab[0], k, r, bias, act, ca)
        self.skip_attn2 = SkipBlock(f1, n_skip_cab[1], k, r, bias, act, ca)
        self.skip_attn3 = SkipBlock(f2, n_skip_cab[2], k, r, bias, act, ca)
        self.bottleneck = cabs(n_bottleneck_cab, f3, k, r, bias, act, ca)
        for level, (cin, cout) in zip((3, 2, 1), ((f3, f2), (f2, f1), (f1, f0))):
            for name, block in level_blocks(level, cin, cout).items():
                setattr(self, f"{name}_level{level}", block)
        self.conv_last = conv(f0, out_chans, 5, bias)

    def block(self, name: str, level: int) -> nn.Module:
        """The decoder block ``<name>_level<level>``."""
        return getattr(self, f"{name}_level{level}")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(bottleneck features, [skip features of levels 3, 2, 1 after their skip blocks])``."""
        x = self.feat_extract(x)
        x, enc1 = self.enc_level1(x)
        x, enc2 = self.enc_level2(x)
        x, enc3 = self.enc_level3(x)
        return self.bottleneck(x), [self.skip_attn3(enc3), self.skip_attn2(enc2), self.skip_attn1(enc1)]

    def decode(self, x: torch.Tensor, skips: list[torch.Tensor], step: DecoderStep) -> torch.Tensor:
        """Decoder levels 3, 2, 1 by ``step``, then ``conv_last``."""
        for j, (level, skip) in enumerate(zip((3, 2, 1), skips)):
            x = step(j, level, x, skip)
        return self.conv_last(x)


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


def unet_input(x: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """The published networks' U-Net input and its inverse.

    Complex ``(B, n, H, W)`` -> real ``(B, 2n, H', W')``: ``[real, imaginary]`` channels, standardised per item
    (:func:`standardise`), zero-padded to multiples of 8; the returned function maps a U-Net output of that
    shape back (unpad, un-standardise, complex).
    """
    y, mean, std = standardise(complex_to_channels(x))
    y, pads = pad_to_multiple(y, 8)
    return y, lambda out: channels_to_complex(unpad(out, pads) * std + mean)


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


def coil_images(k: torch.Tensor, op: OperatorFactory = SenseOp, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Coil images ``F^-1 (M k)`` of each channel, through the injected operator with unit sensitivities.

    ``k`` complex ``(B, N, H, W)`` (any coil/frame channels), ``mask`` ``None`` or ``(B, 1 or N, H, W)``
    (e.g. the ACS region of the sampled points). Each channel is its own one-coil image, ``A = M F 1``, and the
    result ``A^H k`` is complex ``(B, N, H, W)``: the sensitivity networks' ACS coil images and the coil
    images of the final RSS combination.
    """
    unit = torch.ones((1, 1, 1, *k.shape[-2:]), dtype=k.dtype, device=k.device)
    return op(unit, None if mask is None else mask.unsqueeze(-3)).H(k.unsqueeze(-3))


def zero_filled_input(name: str, kspace: torch.Tensor, mask: torch.Tensor, frames: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a published network's input and return ``(k0, mask)``: the k-space zeroed where not sampled and the
    bool mask; ``kspace`` complex ``(B, F*C, H, W)`` with ``F = frames``, ``mask`` ``(B, 1 or F*C, H, W)``
    (non-zero = sampled). A wrong shape raises one ``ValueError`` naming the network (``name``)."""
    if kspace.ndim != 4 or not kspace.is_complex():
        raise ValueError(f"{name}: kspace must be complex (B, F*C, H, W), got {kspace.dtype} {tuple(kspace.shape)}")
    B, N, H, W = kspace.shape
    if N % frames:
        raise ValueError(f"{name}: {N} k-space channels are not {frames} frames x coils")
    if mask.ndim != 4 or mask.shape[0] != B or mask.shape[1] not in (1, N) or tuple(mask.shape[-2:]) != (H, W):
        raise ValueError(f"{name}: mask must be (B={B}, 1 or {N}, {H}, {W}), got {tuple(mask.shape)}")
    mask = mask > 0
    return torch.where(mask, kspace, torch.zeros((), dtype=kspace.dtype, device=kspace.device)), mask


def acs_columns(mask: torch.Tensor, n: int | None) -> torch.Tensor:
    """The line-ACS region of both published extractors: bool ``(B, 1, H, W)``, the columns ``[p, p + n)`` with
    ``p = (W - n + 1) // 2`` in every row; ``mask`` bool ``(B, 1 or N, H, W)``. ``n = None`` measures ``n`` per
    item on the first mask row: twice the distance from column ``W // 2`` to the nearest unsampled column, at
    least 1."""
    B, _, H, W = mask.shape
    if n is None:
        row = mask[:, 0, 0, :].to(torch.int8)
        c = W // 2
        left = torch.argmin(row[:, :c].flip(1), dim=1)
        right = torch.argmin(row[:, c:], dim=1)
        width = torch.clamp(2 * torch.minimum(left, right), min=1)
    else:
        width = torch.full((B,), int(n), dtype=torch.long, device=mask.device)
    start = (W - width + 1) // 2
    cols = torch.arange(W, device=mask.device)
    keep = (cols[None] >= start[:, None]) & (cols[None] < (start + width)[:, None])  # (B, W)
    return keep[:, None, None, :].expand(B, 1, H, W)
