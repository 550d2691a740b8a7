"""PromptMR+ (Xin et al., winner of CMRxRecon 2024; hellopipu/PromptMR-plus ``models/promptmr.py``), written here.

Re-implemented from the repository's description and code (not copied), with native complex tensors. The data
consistency and the coil transforms of the cascades go through the project's SENSE operator
(:class:`cardiomm.physics.sense.SenseOp`, per frame: :func:`~cardiomm.recon.networks.cab.frame_operator`), passed
to :meth:`PromptMR.forward` as ``op`` like the other networks'; the sensitivity network's coil images of the ACS
k-space and the output's coil images are plain :func:`cardiomm.physics.fft.ifft2c`. Module attribute names follow
the official network, so its state dict loads with ``strict=True`` (keys ``sens_net.*``, ``cascades.<i>.*``; the
released Lightning ``.ckpt`` prefixes them with ``promptmr.``, stripped by
:func:`cardiomm.recon.checkpoint.load_published`).
Equivalence with the official code is tested on fixtures recorded from it (``tests/test_published_models.py``).

Structure:

* input: ``F = num_adj_slices`` adjacent frames (centre frame in the middle) of ``C``-coil k-space;
* sensitivity network: a prompt U-Net applied per coil to the ``F`` adjacent ACS coil images
  (``use_sens_adj``), normalised by the RSS over the coils of each frame;
* cascades: a prompt U-Net (image-adaptive prompts: softmax of a linear map of the feature means mixes a
  frozen random prompt bank) on the coil-combined frames, with

  - *adaptive input* (``n_buffer = 4``): the U-Net also sees ``A^H A x_i``, a latent carried from the
    previous cascade, the zero-filled image ``x_0`` and ``A^H A x_i - x_0``;
  - *history features* (``n_history``): each decoder level fuses the features of the previous
    ``n_history`` cascades (a 1x1 "momentum" convolution and a CAB);
  - soft data consistency ``k - w * M (k - k0) - F S(net)`` (``promptmr``) or ``x - w (A^H A x - x0) - net(x)``
    (``promptmr_v2``);

* output: RSS magnitude of the centre frame.

``model_version`` selects the forward of ``models/promptmr.py`` (k-space cascades, DC in k-space) or of
``models/promptmr_v2.py`` (image-domain cascades with ``A^H A`` data consistency; the Lightning module's
default ``model_version``, so read from a released checkpoint's ``hyper_parameters``); both have the same
state-dict keys, so a plain state dict needs ``model_version`` in the model config to be run correctly.

The official ACS extractor reads the mask type from ``mask_type[0]`` (a batch of strings); here it is an
explicit argument ``acs_kind`` (``"lines"`` for ``uniform``/``kt_uniform``/``kt_random``, ``"square"`` for
``kt_radial``). Its square ACS starts at ``H // 2 - n // 2``, which differs from CardioMM's
``(H - n + 1) // 2`` when ``H - n`` is odd; each port keeps its own model's rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cardiomm.physics.coils import expand, rss
from cardiomm.physics.fft import ifft2c
from cardiomm.physics.sense import OperatorFactory, SenseOp
from cardiomm.recon.learned.networks.cab import (
    CAB,
    CABUnetConfig,
    DownBlock,
    SkipBlock,
    by_frame,
    cabs,
    channels_to_complex,
    complex_to_channels,
    conv,
    frame_operator,
    pad_to_multiple,
    standardise,
    unpad,
)
from cardiomm.recon.learned.networks.cab import UpBlock as _UpBlock

__all__ = ["PromptMR", "PromptMRConfig", "PAPER_CONFIG", "acs_kind_for"]


@dataclass
class PromptMRConfig(CABUnetConfig):
    """Hyper-parameters, named as the official ``PromptMrModule`` arguments (defaults: ``pmr-plus.yaml``).
    The shared U-Net fields are :class:`~cardiomm.recon.networks.cab.CABUnetConfig`'s."""

    len_prompt: tuple[int, ...] = (5, 5, 5)
    learnable_prompt: bool = False
    adaptive_input: bool = True
    n_buffer: int = 4
    n_history: int = 11
    use_sens_adj: bool = True
    #: ``"promptmr"`` (``models/promptmr.py``: k-space cascades) or ``"promptmr_v2"`` (``models/promptmr_v2.py``,
    #: the official Lightning module's default: image-domain cascades); same state-dict keys, different forward
    model_version: str = "promptmr_v2"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.adaptive_input and self.n_buffer < 3:
            raise ValueError(f"PromptMRConfig.n_buffer must be >= 3 with adaptive_input, got {self.n_buffer}")
        if self.model_version not in ("promptmr", "promptmr_v2"):
            raise ValueError(f"PromptMRConfig.model_version must be 'promptmr' or 'promptmr_v2', got "
                             f"{self.model_version!r}")
        if self.n_history < 0:
            raise ValueError("PromptMRConfig: n_history must be >= 0")

    @property
    def buffer(self) -> int:
        """Buffer images fed to the cascade U-Nets (0 without adaptive input)."""
        return self.n_buffer if self.adaptive_input else 0


#: the configuration of the released CMRxRecon 2024 weights (``configs/model/pmr-plus.yaml``)
PAPER_CONFIG = PromptMRConfig()

_LINE_TYPES = ("uniform", "kt_uniform", "kt_random", "cartesian")


def acs_kind_for(mask_type: str) -> str:
    """The official rule: ``"square"`` for ``kt_radial``, ``"lines"`` for the Cartesian line masks."""
    if mask_type == "kt_radial":
        return "square"
    if mask_type in _LINE_TYPES:
        return "lines"
    raise ValueError(f"PromptMR+: mask type {mask_type!r} is not one of {(*_LINE_TYPES, 'kt_radial')}")


def acs_kspace(k: torch.Tensor, mask: torch.Tensor, acs_lines: int, acs_kind: str) -> torch.Tensor:
    """PromptMR+'s calibration k-space; ``k (B, N, H, W)``, ``mask`` bool ``(B, 1 or N, H, W)``.

    ``"square"``: sampled points of the ``n x n`` square starting at ``(H // 2 - n // 2, W // 2 - n // 2)``;
    ``"lines"``: columns ``[p, p + n)``, ``p = (W - n + 1) // 2``; ``acs_lines == -1`` measures ``n`` on the
    first mask row (twice the distance from ``W // 2`` to the nearest unsampled column, at least 1).
    """
    B, _, H, W = k.shape
    if acs_kind == "square":
        n = int(acs_lines)
        top, left = H // 2 - n // 2, W // 2 - n // 2
        region = torch.zeros_like(mask)
        region[..., top: top + n, left: left + n] = mask[..., top: top + n, left: left + n]
        return k * region
    if acs_kind != "lines":
        raise ValueError(f"acs_kspace: acs_kind must be 'lines' or 'square', got {acs_kind!r}")
    if acs_lines == -1:
        row = mask[:, 0, 0, :].to(torch.int8)
        c = W // 2
        n = torch.clamp(2 * torch.minimum(torch.argmin(row[:, :c].flip(1), dim=1),
                                          torch.argmin(row[:, c:], dim=1)), min=1)
    else:
        n = torch.full((B,), int(acs_lines), dtype=torch.long, device=k.device)
    start = (W - n + 1) // 2
    cols = torch.arange(W, device=k.device)
    keep = (cols[None] >= start[:, None]) & (cols[None] < (start + n)[:, None])
    return k * keep[:, None, None, :]


class PromptBlock(nn.Module):
    """Image-adaptive prompt: ``softmax(linear(mean_hw(x)))`` mixes a frozen random bank; bilinear; 3x3 conv."""

    def __init__(self, prompt_dim: int, prompt_len: int, prompt_size: int, lin_dim: int,
                 learnable: bool = False) -> None:
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size),
                                         requires_grad=learnable)
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.dec_conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, lin_dim, H, W)`` -> ``(B, prompt_dim, H, W)``."""
        weights = F.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)
        prompt = (weights[:, :, None, None, None] * self.prompt_param[0].unsqueeze(0)).sum(dim=1)
        return self.dec_conv3x3(F.interpolate(prompt, size=x.shape[-2:], mode="bilinear"))


class UpBlock(_UpBlock):
    """The shared decoder level, preceded (``n_history > 0``) by fusion with the previous cascades' features."""

    def __init__(self, in_dim: int, out_dim: int, prompt_dim: int, n_cab: int, kernel_size: int, reduction: int,
                 bias: bool, act: nn.Module, no_use_ca: bool = False, n_history: int = 0) -> None:
        super().__init__(in_dim, out_dim, prompt_dim, n_cab, kernel_size, reduction, bias, act, no_use_ca)
        self.n_history = n_history
        if n_history > 0:
            self.momentum = nn.Sequential(nn.Conv2d(in_dim * (n_history + 1), in_dim, kernel_size=1, bias=bias),
                                          CAB(in_dim, kernel_size, reduction, bias, act, no_use_ca))

    def forward(self, x: torch.Tensor, prompt: torch.Tensor, skip: torch.Tensor,  # type: ignore[override]
                history: torch.Tensor | None = None) -> torch.Tensor:
        """``history (B, n_history * in_dim, h, w)`` or ``None`` (first cascade: ``x`` repeated)."""
        if self.n_history > 0:
            x = self.momentum(x.repeat(1, self.n_history + 1, 1, 1) if history is None
                              else torch.cat([x, history], dim=1))
        return super().forward(x, prompt, skip)


class PromptUnet(nn.Module):
    """Three-level CAB U-Net with image-adaptive prompts and optional history features."""

    def __init__(self, chans: int, n_feat0: int, feature_dim: tuple[int, ...], prompt_dim: tuple[int, ...],
                 len_prompt: tuple[int, ...], prompt_size: tuple[int, ...], n_enc_cab: tuple[int, ...],
                 n_dec_cab: tuple[int, ...], n_skip_cab: tuple[int, ...], n_bottleneck_cab: int, no_use_ca: bool,
                 learnable_prompt: bool, n_history: int, act: nn.Module, kernel_size: int = 3,
                 reduction: int = 4, bias: bool = False) -> None:
        super().__init__()
        k, r, ca = kernel_size, reduction, no_use_ca
        f0, (f1, f2, f3) = n_feat0, feature_dim
        self.feature_dim = feature_dim
        self.n_history = n_history
        self.feat_extract = conv(chans, f0, k, bias)
        self.enc_level1 = DownBlock(f0, f1, n_enc_cab[0], k, r, bias, act, ca, first_act=True)
        self.enc_level2 = DownBlock(f1, f2, n_enc_cab[1], k, r, bias, act, ca)
        self.enc_level3 = DownBlock(f2, f3, n_enc_cab[2], k, r, bias, act, ca)
        self.skip_attn1 = SkipBlock(f0, n_skip_cab[0], k, r, bias, act, ca)
        self.skip_attn2 = SkipBlock(f1, n_skip_cab[1], k, r, bias, act, ca)
        self.skip_attn3 = SkipBlock(f2, n_skip_cab[2], k, r, bias, act, ca)
        self.bottleneck = cabs(n_bottleneck_cab, f3, k, r, bias, act, ca)
        for level, (cin, cout) in zip((3, 2, 1), ((f3, f2), (f2, f1), (f1, f0))):
            i = level - 1
            setattr(self, f"prompt_level{level}", PromptBlock(prompt_dim[i], len_prompt[i], prompt_size[i], cin,
                                                              learnable_prompt))
            setattr(self, f"dec_level{level}", UpBlock(cin, cout, prompt_dim[i], n_dec_cab[i], k, r, bias, act,
                                                       ca, n_history))
        self.conv_last = conv(f0, chans, 5, bias)

    def forward(self, x: torch.Tensor, history: list[torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """``x (B, chans, H, W)``; ``history``: per decoder level (3, 2, 1) the previous cascades' features."""
        x = self.feat_extract(x)
        x, enc1 = self.enc_level1(x)
        x, enc2 = self.enc_level2(x)
        x, enc3 = self.enc_level3(x)
        x = self.bottleneck(x)
        current = []
        for j, (level, skip) in enumerate(((3, enc3), (2, enc2), (1, enc1))):
            current.append(x)
            prompt = getattr(self, f"prompt_level{level}")(x)
            x = getattr(self, f"dec_level{level}")(x, prompt, getattr(self, f"skip_attn{level}")(skip),
                                                   None if history is None else history[j])
        if self.n_history == 0:
            return self.conv_last(x), None
        if history is None:  # first cascade: the current features stand in for all previous ones
            new = [c.repeat(1, self.n_history, 1, 1) for c in current]
        else:  # newest first; the oldest cascade's features drop out
            new = [torch.cat([c, h[:, : h.shape[1] - c.shape[1]]], dim=1) for c, h in zip(current, history)]
        return self.conv_last(x), new


class NormPromptUnet(nn.Module):
    """Complex ``(B, n, H, W)`` (+ buffer images) -> ``[re, im]`` channels, standardised, padded to 8, U-Net."""

    def __init__(self, **unet_kwargs: object) -> None:
        super().__init__()
        self.unet = PromptUnet(**unet_kwargs)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, history: list[torch.Tensor] | None = None,
                buffer: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor] | None]:
        """``(output (B, n, H, W), latent (B, n, H, W) or None, history)``."""
        n = x.shape[1]
        if buffer is not None:
            x = torch.cat([x, buffer], dim=1)
        y, mean, std = standardise(complex_to_channels(x))
        y, pads = pad_to_multiple(y, 8)
        y, history = self.unet(y, history)
        y = channels_to_complex(unpad(y, pads) * std + mean)
        if buffer is None:
            return y, None, history
        return y[:, :n], y[:, 2 * n: 3 * n], history


def _unet_kwargs(cfg: PromptMRConfig, chans: int, sens: bool, act: nn.Module) -> dict:
    return dict(chans=chans, n_feat0=cfg.sens_n_feat0 if sens else cfg.n_feat0,
                feature_dim=cfg.sens_feature_dim if sens else cfg.feature_dim,
                prompt_dim=cfg.sens_prompt_dim if sens else cfg.prompt_dim,
                len_prompt=cfg.len_prompt, prompt_size=cfg.prompt_size, n_enc_cab=cfg.n_enc_cab,
                n_dec_cab=cfg.n_dec_cab, n_skip_cab=cfg.n_skip_cab, n_bottleneck_cab=cfg.n_bottleneck_cab,
                no_use_ca=cfg.no_use_ca, learnable_prompt=cfg.learnable_prompt,
                n_history=0 if sens else cfg.n_history, act=act)


class SensitivityModel(nn.Module):
    """Sensitivities from the ACS k-space: per coil, the adjacent frames' images through a prompt U-Net."""

    def __init__(self, cfg: PromptMRConfig, act: nn.Module) -> None:
        super().__init__()
        self.frames, self.adj, self.mask_center = cfg.num_adj_slices, cfg.use_sens_adj, cfg.mask_center
        self.norm_unet = NormPromptUnet(**_unet_kwargs(cfg, 2 * self.frames if self.adj else 2, True, act))

    def forward(self, k: torch.Tensor, mask: torch.Tensor, acs_lines: int, acs_kind: str) -> torch.Tensor:
        """``k (B, F*C, H, W)`` -> ``(B, F, C, H, W)`` with unit RSS over each frame's coils."""
        B, N, H, W = k.shape
        Fr, C = self.frames, N // self.frames
        if self.mask_center:
            k = acs_kspace(k, mask, acs_lines, acs_kind)
        img = ifft2c(k).reshape(B, Fr, C, H, W)
        if self.adj:
            maps = self.norm_unet(img.transpose(1, 2).reshape(B * C, Fr, H, W))[0]
            maps = maps.reshape(B, C, Fr, H, W).transpose(1, 2)
        else:
            maps = self.norm_unet(img.reshape(B * N, 1, H, W))[0].reshape(B, Fr, C, H, W)
        return maps / rss(maps, dim=2).unsqueeze(2)


class PromptMRBlock(nn.Module):
    """One cascade: ``k - w * M (k - k0) - F S(net(S^H F^-1 k))`` (``model_version="promptmr"``); the
    ``promptmr_v2`` forward uses its ``model`` and ``dc_weight`` in :meth:`PromptMR._forward_v2`."""

    def __init__(self, model: NormPromptUnet) -> None:
        super().__init__()
        self.model = model
        self.dc_weight = nn.Parameter(torch.ones(1))

    def forward(self, k: torch.Tensor, k0: torch.Tensor, A: SenseOp, history: list[torch.Tensor] | None,
                buffer: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor] | None]:
        """k-space ``(B, F, C, H, W)``; ``A`` the per-frame :func:`~cardiomm.recon.networks.cab.frame_operator`."""
        soft_dc = torch.where(A.mask, k - k0, torch.zeros((), dtype=k.dtype, device=k.device)) * self.dc_weight
        full = A.unmasked()  # F S: the cascade's coil transforms act on the whole predicted k-space
        pred, latent, history = self.model(full.H(k), history, buffer)
        return k - soft_dc - full(pred), latent, history


class PromptMR(nn.Module):
    """PromptMR+ (state keys ``sens_net.*``, ``cascades.<i>.*``).

    :meth:`forward` inputs: ``kspace`` complex ``(B, F*C, H, W)`` (frame-major adjacent frames, zero where not
    sampled), ``mask`` ``(B, 1 or F*C, H, W)`` non-zero = sampled, ``acs_lines`` (``-1``: measure it for line
    masks), ``acs_kind`` (``"lines"``/``"square"``, :func:`acs_kind_for`), ``op`` the data-consistency
    operator's constructor ``op(maps, mask)`` (default :class:`~cardiomm.physics.sense.SenseOp`), built per frame
    from the estimated maps and the mask. Output: real ``(B, H, W)`` RSS magnitude of the centre frame.
    """

    arch = "promptmr"

    def __init__(self, cfg: PromptMRConfig | None = None) -> None:
        super().__init__()
        self.config = c = cfg or PromptMRConfig()
        act = nn.PReLU()  # one PReLU shared by all default-activation CABs, as the official default argument
        self.sens_net = SensitivityModel(c, act)
        chans = 2 * c.num_adj_slices * (1 + c.buffer)
        self.cascades = nn.ModuleList([PromptMRBlock(NormPromptUnet(**_unet_kwargs(c, chans, False, act)))
                                       for _ in range(c.num_cascades)])

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, acs_lines: int, acs_kind: str,
                op: OperatorFactory = SenseOp) -> torch.Tensor:
        c = self.config
        if kspace.ndim != 4 or not kspace.is_complex():
            raise ValueError(f"PromptMR: kspace must be complex (B, F*C, H, W), got {kspace.dtype} "
                             f"{tuple(kspace.shape)}")
        B, N, H, W = kspace.shape
        if N % c.num_adj_slices:
            raise ValueError(f"PromptMR: {N} k-space channels are not {c.num_adj_slices} frames x coils")
        if mask.ndim != 4 or mask.shape[0] != B or mask.shape[1] not in (1, N) or tuple(mask.shape[-2:]) != (H, W):
            raise ValueError(f"PromptMR: mask must be (B={B}, 1 or {N}, {H}, {W}), got {tuple(mask.shape)}")
        mask = mask > 0
        zero = torch.zeros((), dtype=kspace.dtype, device=kspace.device)
        k0 = torch.where(mask, kspace, zero)
        smaps = self.sens_net(k0, mask, int(acs_lines), acs_kind)  # (B, F, C, H, W)
        A = frame_operator(smaps, by_frame(mask, c.num_adj_slices), op)  # A = M F S per frame
        k0 = by_frame(k0, c.num_adj_slices)
        centre = c.num_adj_slices // 2
        if c.model_version == "promptmr_v2":
            img = self._forward_v2(k0, A)
            return rss(expand(img[:, centre], smaps[:, centre]), dim=1)
        img_zf = A.H(k0)
        buffer = torch.cat([img_zf] * c.buffer, dim=1) if c.buffer else None
        k, history = k0, None
        for i, cascade in enumerate(self.cascades):
            k, latent, history = cascade(k, k0, A, history, buffer)
            if c.buffer and i < c.num_cascades - 1:
                ffx = A.H(k)  # S^H F^-1 M k
                buffer = torch.cat([ffx] + [latent] * (c.buffer - 3) + [img_zf, ffx - img_zf], dim=1)
        return rss(ifft2c(k[:, centre]), dim=1)

    def _forward_v2(self, k0: torch.Tensor, A: SenseOp) -> torch.Tensor:
        """Image-domain cascades (``promptmr_v2``): ``x - w (A^H A x - x0) - net(x)``; ``k0 (B, F, C, H, W)``,
        returns ``(B, F, H, W)``."""
        c = self.config
        img_zf = A.H(k0)
        img, latent, history = img_zf, img_zf, None
        for cascade in self.cascades:
            ffx = A.N(img)
            buffer = (torch.cat([ffx, latent, img_zf] + [ffx - img_zf] * (c.buffer - 3), dim=1) if c.buffer
                      else None)
            term, new_latent, history = cascade.model(img, history, buffer)
            latent = new_latent if new_latent is not None else latent
            img = img - (ffx - img_zf) * cascade.dc_weight - term
        return img
