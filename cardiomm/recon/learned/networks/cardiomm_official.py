"""The published CardioMM architecture (Wang et al., wangziblake/CardioMM_MMCMR-427K), written here.

This is the architecture of the official ``CardioMM_SEM`` network and of the two text projection heads of its
Lightning module, re-implemented from the repository's description and code (not copied), with native
complex tensors. The data consistency and the coil transforms of the cascades go through the project's SENSE
operator (:class:`cardiomm.physics.sense.SenseOp`, per frame: :func:`~cardiomm.recon.networks.cab.frame_operator`),
passed to :meth:`CardioMMOfficial.forward` as ``op`` like the other networks'; the sensitivity network's coil
images of the ACS k-space and the output's coil images are plain :func:`cardiomm.physics.fft.ifft2c` (no maps
exist yet / none are applied). Module attribute names follow the official ones, so an official checkpoint loads
with ``load_state_dict(strict=True)``: the keys are ``metausunetlight.*`` (reconstruction network),
``lm_head_meta.*`` and ``lm_head_us.*`` (text heads). Equivalence with the official code is tested on
fixtures recorded from it (``tests/test_published_models.py``).

Structure (published training: 10 cascades, one frame (``num_adj_slices=1``); the network also takes an odd
number of adjacent frames, 5 by the class defaults):

* text: two sentences (metadata, undersampling; :mod:`cardiomm.recon.text_prompts`) encoded by a frozen CLIP
  ViT-B/16 text tower (512-d, outside this module) and projected by ``LMHead`` (``Linear(512, 256)``, then
  ``F.normalize`` over an axis of length 1, see :class:`LMHead`);
* sensitivity network: a text-conditioned U-Net applied to each coil image of the ACS-only k-space, then
  normalised by the root-sum-of-squares over the coils of each frame;
* cascades: text-conditioned U-Net on the coil-combined adjacent frames (real/imaginary as channels,
  standardised per item, padded to multiples of 8) and the data consistency
  ``k = (k0 + |l| k_net) / (1 + |l|)`` on sampled points, ``k_net`` elsewhere;
* output: RSS magnitude of the centre frame.

Two behaviours of the official code, documented here and *not* copied (both agree with the official code at
batch size 1, where the fixtures are recorded):

* the official ACS extractor takes the square 2D ACS only for the exact ``mask_type`` string ``"radial"``
  (any other string, and a batched list of strings, takes the 1D line path on the first mask row); here the
  choice is an explicit argument ``square_acs`` (:func:`official_square_acs` gives the official rule);
* with a batch of more than one item and different texts, the official text gates of the sensitivity network
  are tiled (``repeat``) over the coil-expanded batch, pairing item ``i``'s coils with other items' texts;
  here each item's coils get that item's text (``repeat_interleave``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cardiomm.physics.coils import rss
from cardiomm.physics.fft import ifft2c
from cardiomm.physics.sense import OperatorFactory, SenseOp
from cardiomm.recon.learned.networks.cab import (
    CAB,
    CABUnetConfig,
    DownBlock,
    SkipBlock,
    UpBlock,
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

__all__ = ["CardioMMOfficial", "CardioMMOfficialConfig", "PAPER_CONFIG", "LMHead", "official_square_acs"]


@dataclass
class CardioMMOfficialConfig(CABUnetConfig):
    """Hyper-parameters, named as the official ``CardioMM_Module`` arguments (defaults: the defaults of the
    official ``CardioMM_SEM``/``CardioMM_Module`` classes; the published training uses :data:`PAPER_CONFIG`).
    The shared U-Net fields are :class:`~cardiomm.recon.networks.cab.CABUnetConfig`'s.

    ``llm_model_dim`` is the text encoder's output width (512 for CLIP ViT-B/16), ``llm_embd_dim`` the
    projected width fed to the network.
    """

    llm_model_dim: int = 512
    llm_embd_dim: int = 256
    llm_nclasses: int = 3


#: the published training configuration (``trainscript_CMRxReconAll.sh``: 10 cascades; ``train_CardioMM.py``:
#: ``num_adj_slices=1``, CLIP 512 -> 256): 63,440,716 trainable parameters
PAPER_CONFIG = CardioMMOfficialConfig(num_cascades=10, num_adj_slices=1)


def official_square_acs(mask_type: str) -> bool:
    """The official rule: the square 2D ACS is used only for the exact mask type string ``"radial"``."""
    return mask_type == "radial"


class LMHead(nn.Module):
    """Text projection head: ``fc1`` (model dim -> embedding dim), normalisation, auxiliary ``fc2`` logits.

    The official head normalises with ``F.normalize(dim=1)`` a tensor of shape ``(1, n_texts, E)``, i.e. over
    the texts axis, which has length 1 at the official batch size: every coordinate becomes
    ``e / max(|e|, 1e-12)`` (+-1). That exact operation is kept (per item), since the published weights were
    trained with it.
    """

    def __init__(self, llm_model_dim: int = 512, llm_embd_dim: int = 256, llm_nclasses: int = 3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(llm_model_dim, llm_embd_dim)
        self.fc2 = nn.Linear(llm_embd_dim, llm_nclasses)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        """``text (B, llm_model_dim)`` -> embedding ``(B, 1, llm_embd_dim)`` (``fc2`` is unused in recon)."""
        return F.normalize(self.fc1(text).unsqueeze(1), p=2, dim=1)


def _per_item(v: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, ...)`` -> ``(B * m, ...)`` where item ``i`` is repeated for its ``m = n // B`` rows."""
    return v.repeat_interleave(n // v.shape[0], dim=0)


class TextConditionBlock(nn.Module):
    """Metadata conditioning: ``x + CAB(sigmoid(fc(t)) * (gamma * x + beta))``."""

    def __init__(self, channels: int, kernel_size: int, reduction: int, text_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(text_dim, channels)
        self.block = CAB(channels, kernel_size, reduction, bias=False, act=nn.PReLU(), no_use_ca=False)
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``x (B*m, C, H, W)``, ``text (B, 1, text_dim)``."""
        gate = _per_item(torch.sigmoid(self.fc(text[:, 0])), x.shape[0])[..., None, None]
        return self.block((x * self.gamma + self.beta) * gate) + x


class USPromptBlock(nn.Module):
    """Undersampling prompt: a frozen random bank of ``prompt_len`` maps mixed by ``softmax(linear(t))``,
    resized (bilinear) to the decoder level and passed through a 3x3 convolution."""

    def __init__(self, prompt_dim: int, prompt_len: int, prompt_size: int, text_dim: int,
                 learnable: bool = False) -> None:
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size),
                                         requires_grad=learnable)
        self.linear_layer2 = nn.Linear(text_dim, prompt_len)
        self.dec_conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``x (B*m, C, H, W)`` (only its shape is used), ``text (B, 1, text_dim)`` -> ``(B*m, prompt_dim, H, W)``."""
        weights = _per_item(F.softmax(self.linear_layer2(text[:, 0]), dim=1), x.shape[0])  # (B*m, L)
        bank = self.prompt_param[0]  # (L, D, S, S)
        prompt = (weights[:, :, None, None, None] * bank.unsqueeze(0)).sum(dim=1)
        prompt = F.interpolate(prompt, size=x.shape[-2:], mode="bilinear")
        return self.dec_conv3x3(prompt)


class CardioMMUnet(nn.Module):
    """Three-level CAB U-Net with an undersampling prompt and metadata conditioning at every decoder level."""

    def __init__(self, in_chans: int, out_chans: int, n_feat0: int, feature_dim: tuple[int, ...],
                 prompt_dim: tuple[int, ...], len_prompt: tuple[int, ...], prompt_size: tuple[int, ...],
                 n_enc_cab: tuple[int, ...], n_dec_cab: tuple[int, ...], n_skip_cab: tuple[int, ...],
                 n_bottleneck_cab: int, no_use_ca: bool, text_dim: int, act: nn.Module,
                 kernel_size: int = 3, reduction: int = 4, bias: bool = False) -> None:
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
            i = level - 1
            setattr(self, f"prompt_level{level}", USPromptBlock(prompt_dim[i], len_prompt[i], prompt_size[i],
                                                                text_dim))
            setattr(self, f"dec_level{level}", UpBlock(cin, cout, prompt_dim[i], n_dec_cab[i], k, r, bias, act, ca))
            setattr(self, f"metacond_level{level}", TextConditionBlock(cout, k, r, text_dim))
        self.conv_last = conv(f0, out_chans, 5, bias)

    def forward(self, x: torch.Tensor, text_meta: torch.Tensor, text_us: torch.Tensor) -> torch.Tensor:
        """``x (B*m, in_chans, H, W)`` with ``H, W`` multiples of 8; texts ``(B, 1, E)``."""
        x = self.feat_extract(x)
        x, enc1 = self.enc_level1(x)
        x, enc2 = self.enc_level2(x)
        x, enc3 = self.enc_level3(x)
        x = self.bottleneck(x)
        for level, skip in ((3, enc3), (2, enc2), (1, enc1)):
            prompt = getattr(self, f"prompt_level{level}")(x, text_us)
            x = getattr(self, f"dec_level{level}")(x, prompt, getattr(self, f"skip_attn{level}")(skip))
            x = getattr(self, f"metacond_level{level}")(x, text_meta)
        return self.conv_last(x)


class NormCardioMMUnet(nn.Module):
    """Complex ``(B, C, H, W)`` -> channels ``[re, im]``, standardised per item, padded to 8, U-Net, back."""

    def __init__(self, **unet_kwargs: object) -> None:
        super().__init__()
        self.unet = CardioMMUnet(**unet_kwargs)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, text_meta: torch.Tensor, text_us: torch.Tensor) -> torch.Tensor:
        x, mean, std = standardise(complex_to_channels(x))
        x, pads = pad_to_multiple(x, 8)
        x = unpad(self.unet(x, text_meta, text_us), pads)
        return channels_to_complex(x * std + mean)


def _unet_kwargs(cfg: CardioMMOfficialConfig, chans: int, sens: bool, act: nn.Module) -> dict:
    return dict(in_chans=chans, out_chans=chans,
                n_feat0=cfg.sens_n_feat0 if sens else cfg.n_feat0,
                feature_dim=cfg.sens_feature_dim if sens else cfg.feature_dim,
                prompt_dim=cfg.sens_prompt_dim if sens else cfg.prompt_dim,
                len_prompt=cfg.len_prompt, prompt_size=cfg.prompt_size, n_enc_cab=cfg.n_enc_cab,
                n_dec_cab=cfg.n_dec_cab, n_skip_cab=cfg.n_skip_cab, n_bottleneck_cab=cfg.n_bottleneck_cab,
                no_use_ca=cfg.no_use_ca, text_dim=cfg.llm_embd_dim, act=act)


def acs_kspace(k: torch.Tensor, mask: torch.Tensor, acs_lines: int, square: bool) -> torch.Tensor:
    """K-space restricted to the calibration region, as the official ``KspaceACSExtractor``.

    Parameters
    ----------
    k: complex ``(B, N, H, W)`` undersampled k-space (zero where not sampled).
    mask: bool ``(B, 1 or N, H, W)``.
    acs_lines: ACS width; for line masks ``0`` means "measure it on the first mask row": twice the distance
        from column ``W // 2`` to the nearest unsampled column (at least 1).
    square: ``True``: keep the sampled points of the centred ``acs_lines`` x ``acs_lines`` square;
        ``False``: keep the columns ``[p, p + n)`` with ``p = (W - n + 1) // 2``, for all rows.
    """
    B, _, H, W = k.shape
    if square:
        if acs_lines < 1:
            raise ValueError("acs_kspace: a square ACS needs acs_lines >= 1")
        n = acs_lines
        top, left = (H - n + 1) // 2, (W - n + 1) // 2
        region = torch.zeros_like(mask)
        region[..., top: top + n, left: left + n] = mask[..., top: top + n, left: left + n]
        return k * region
    if acs_lines:
        n = torch.full((B,), int(acs_lines), dtype=torch.long, device=k.device)
    else:
        row = mask[:, 0, 0, :].to(torch.int8)
        c = W // 2
        left = torch.argmin(row[:, :c].flip(1), dim=1)
        right = torch.argmin(row[:, c:], dim=1)
        n = torch.clamp(2 * torch.minimum(left, right), min=1)
    start = (W - n + 1) // 2
    cols = torch.arange(W, device=k.device)
    keep = (cols[None] >= start[:, None]) & (cols[None] < (start + n)[:, None])  # (B, W)
    return k * keep[:, None, None, :]


class SensitivityModel(nn.Module):
    """Text-conditioned sensitivity estimation from the ACS k-space (one U-Net pass per coil image)."""

    def __init__(self, cfg: CardioMMOfficialConfig, act: nn.Module) -> None:
        super().__init__()
        self.frames = cfg.num_adj_slices
        self.mask_center = cfg.mask_center
        self.norm_unet = NormCardioMMUnet(**_unet_kwargs(cfg, 2, True, act))

    def forward(self, k: torch.Tensor, mask: torch.Tensor, acs_lines: int, square_acs: bool,
                text_meta: torch.Tensor, text_us: torch.Tensor) -> torch.Tensor:
        """``k (B, F*C, H, W)`` -> sensitivities ``(B, F, C, H, W)`` with unit RSS over each frame's coils."""
        B, N, H, W = k.shape
        if self.mask_center:
            k = acs_kspace(k, mask, acs_lines, square_acs)
        coil_images = ifft2c(k).reshape(B * N, 1, H, W)
        maps = self.norm_unet(coil_images, text_meta, text_us).reshape(B, self.frames, N // self.frames, H, W)
        return maps / rss(maps, dim=2).unsqueeze(2)


class CardioMMBlock(nn.Module):
    """One cascade: U-Net on the coil-combined frames ``S^H F^-1 k``, expanded ``k_net = F S(net)``, then the
    weighted data consistency on the sampled points of ``A``'s mask."""

    def __init__(self, model: NormCardioMMUnet) -> None:
        super().__init__()
        self.model = model
        self.dc_weight = nn.Parameter(torch.ones(1))

    def forward(self, k: torch.Tensor, k0: torch.Tensor, A: SenseOp, text_meta: torch.Tensor,
                text_us: torch.Tensor) -> torch.Tensor:
        """k-space ``(B, F, C, H, W)``; ``A`` the per-frame :func:`~cardiomm.recon.networks.cab.frame_operator`."""
        full = A.unmasked()  # F S: the cascade's coil transforms act on the whole predicted k-space
        k_net = full(self.model(full.H(k), text_meta, text_us))
        lam = self.dc_weight.abs()
        return torch.where(A.mask, (k0 + lam * k_net) / (1 + lam), k_net)


class CardioMMNet(nn.Module):
    """The official ``CardioMM_SEM`` network (state keys ``sens_net.*``, ``cascades.<i>.*``)."""

    def __init__(self, cfg: CardioMMOfficialConfig) -> None:
        super().__init__()
        self.frames = cfg.num_adj_slices
        # One PReLU shared by every CAB that takes the default activation, in every U-Net: the official
        # U-Net's default ``act=nn.PReLU()`` is a single module object, so training updates one parameter.
        act = nn.PReLU()
        self.sens_net = SensitivityModel(cfg, act)
        self.cascades = nn.ModuleList([
            CardioMMBlock(NormCardioMMUnet(**_unet_kwargs(cfg, 2 * cfg.num_adj_slices, False, act)))
            for _ in range(cfg.num_cascades)])

    def forward(self, k0: torch.Tensor, mask: torch.Tensor, acs_lines: int, square_acs: bool,
                text_meta: torch.Tensor, text_us: torch.Tensor, op: OperatorFactory = SenseOp) -> torch.Tensor:
        """RSS magnitude ``(B, H, W)`` of the centre frame; ``k0 (B, F*C, H, W)`` frame-major, ``mask`` bool
        ``(B, 1 or F*C, H, W)``; ``op`` the data-consistency operator's constructor ``op(maps, mask)``."""
        smaps = self.sens_net(k0, mask, acs_lines, square_acs, text_meta, text_us)  # (B, F, C, H, W)
        A = frame_operator(smaps, by_frame(mask, self.frames), op)
        k0 = by_frame(k0, self.frames)
        k = k0
        for cascade in self.cascades:
            k = cascade(k, k0, A, text_meta, text_us)
        return rss(ifft2c(k[:, self.frames // 2]), dim=1)


class CardioMMOfficial(nn.Module):
    """Network + text heads, with the state-dict layout of the official Lightning module (minus the frozen
    text encoder, ``language_model_no.*``, which is loaded separately from a CLIP folder).

    Inputs of :meth:`forward`:

    * ``kspace``: complex ``(B, F*C, H, W)``, the ``F = num_adj_slices`` adjacent frames (centre frame in the
      middle) each with ``C`` coils, frame-major; zero where not sampled;
    * ``mask``: ``(B, 1 or F*C, H, W)``, non-zero = sampled (a kt mask has a different mask per frame);
    * ``acs_lines``: ACS width (see :func:`acs_kspace`); ``square_acs``: square (2D) or line (1D) ACS;
    * ``text_meta``, ``text_us``: ``(B, llm_model_dim)`` text encoder outputs for the metadata and the
      undersampling sentences (:mod:`cardiomm.recon.text_prompts`);
    * ``op``: the data-consistency operator's constructor ``op(maps, mask)`` (default
      :class:`~cardiomm.physics.sense.SenseOp`), built per frame from the estimated maps and the mask.

    Output: real ``(B, H, W)`` RSS magnitude of the centre frame, in the units of ``kspace``.
    """

    arch = "cardiomm_official"

    def __init__(self, cfg: CardioMMOfficialConfig | None = None) -> None:
        super().__init__()
        self.config = cfg or CardioMMOfficialConfig()
        self.metausunetlight = CardioMMNet(self.config)
        c = self.config
        self.lm_head_meta = LMHead(c.llm_model_dim, c.llm_embd_dim, c.llm_nclasses)
        self.lm_head_us = LMHead(c.llm_model_dim, c.llm_embd_dim, c.llm_nclasses)

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, acs_lines: int, square_acs: bool,
                text_meta: torch.Tensor, text_us: torch.Tensor, op: OperatorFactory = SenseOp) -> torch.Tensor:
        c = self.config
        if kspace.ndim != 4 or not kspace.is_complex():
            raise ValueError(f"CardioMMOfficial: kspace must be complex (B, F*C, H, W), got {kspace.dtype} "
                             f"{tuple(kspace.shape)}")
        B, N, H, W = kspace.shape
        if N % c.num_adj_slices:
            raise ValueError(f"CardioMMOfficial: {N} k-space channels are not {c.num_adj_slices} frames x coils")
        if mask.ndim != 4 or mask.shape[0] != B or mask.shape[1] not in (1, N) or tuple(mask.shape[-2:]) != (H, W):
            raise ValueError(f"CardioMMOfficial: mask must be (B={B}, 1 or {N}, {H}, {W}), got {tuple(mask.shape)}")
        for name, t in (("text_meta", text_meta), ("text_us", text_us)):
            if tuple(t.shape) != (B, c.llm_model_dim):
                raise ValueError(f"CardioMMOfficial: {name} must be (B={B}, {c.llm_model_dim}), got {tuple(t.shape)}")
        mask = mask > 0
        k0 = torch.where(mask, kspace, torch.zeros((), dtype=kspace.dtype, device=kspace.device))
        return self.metausunetlight(k0, mask, int(acs_lines), bool(square_acs),
                                    self.lm_head_meta(text_meta), self.lm_head_us(text_us), op)
