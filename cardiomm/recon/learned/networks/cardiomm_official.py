"""The published CardioMM architecture (Wang et al., wangziblake/CardioMM_MMCMR-427K), written here.

This is the architecture of the official ``CardioMM_SEM`` network and of the two text projection heads of its
Lightning module, re-implemented from the repository's description and code (not copied), with native
complex tensors. Every Fourier transform goes through the project's SENSE operator
(:class:`cardiomm.physics.sense.SenseOp`), passed to :meth:`CardioMMOfficial.forward` as ``op`` like the other
networks': the data consistency and the coil transforms of the cascades per frame
(:func:`~.cab.frame_operator`), the ACS coil images of the sensitivity network and the coil
images of the output with unit sensitivities (no maps exist yet / none are applied;
:func:`~.cab.coil_images`). The U-Net is the shared
:class:`~.cab.CABUnet` with CardioMM's decoder levels. Module attribute names follow the
official ones, so an official checkpoint loads
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
from cardiomm.physics.sense import OperatorFactory, SenseOp
from cardiomm.recon.learned.networks.cab import (
    CAB,
    CABUnet,
    CABUnetConfig,
    PromptBank,
    UpBlock,
    acs_columns,
    by_frame,
    coil_images,
    frame_operator,
    unet_input,
    zero_filled_input,
)

__all__ = ["CardioMMOfficial", "CardioMMOfficialConfig", "PAPER_CONFIG", "LMHead", "official_square_acs"]


@dataclass
class CardioMMOfficialConfig(CABUnetConfig):
    """Hyper-parameters, named as the official ``CardioMM_Module`` arguments (defaults: the defaults of the
    official ``CardioMM_SEM``/``CardioMM_Module`` classes; the published training uses :data:`PAPER_CONFIG`).
    The shared U-Net fields are :class:`~.cab.CABUnetConfig`'s.

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


class USPromptBlock(PromptBank):
    """Undersampling prompt: the bank mixed by ``softmax(linear_layer2(t))`` of the item's text."""

    linear_name = "linear_layer2"

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``x (B*m, C, H, W)`` (only its shape is used), ``text (B, 1, text_dim)`` -> ``(B*m, prompt_dim, H, W)``."""
        return self.prompt(_per_item(self.weights(text[:, 0]), x.shape[0]), x.shape[-2:])


class CardioMMUnet(CABUnet):
    """The shared :class:`~.cab.CABUnet` with an undersampling prompt
    (``prompt_level<i>``) and metadata conditioning (``metacond_level<i>``) at every decoder level."""

    def __init__(self, in_chans: int, out_chans: int, n_feat0: int, feature_dim: tuple[int, ...],
                 prompt_dim: tuple[int, ...], len_prompt: tuple[int, ...], prompt_size: tuple[int, ...],
                 n_enc_cab: tuple[int, ...], n_dec_cab: tuple[int, ...], n_skip_cab: tuple[int, ...],
                 n_bottleneck_cab: int, no_use_ca: bool, text_dim: int, act: nn.Module,
                 kernel_size: int = 3, reduction: int = 4, bias: bool = False) -> None:
        def level_blocks(level: int, cin: int, cout: int) -> dict[str, nn.Module]:
            i = level - 1
            return {"prompt": USPromptBlock(prompt_dim[i], len_prompt[i], prompt_size[i], text_dim),
                    "dec": UpBlock(cin, cout, prompt_dim[i], n_dec_cab[i], kernel_size, reduction, bias, act,
                                   no_use_ca),
                    "metacond": TextConditionBlock(cout, kernel_size, reduction, text_dim)}

        super().__init__(in_chans, out_chans, n_feat0, feature_dim, n_enc_cab, n_skip_cab, n_bottleneck_cab,
                         no_use_ca, act, level_blocks, kernel_size, reduction, bias)

    def forward(self, x: torch.Tensor, text_meta: torch.Tensor, text_us: torch.Tensor) -> torch.Tensor:
        """``x (B*m, in_chans, H, W)`` with ``H, W`` multiples of 8; texts ``(B, 1, E)``."""

        def step(j: int, level: int, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
            x = self.block("dec", level)(x, self.block("prompt", level)(x, text_us), skip)
            return self.block("metacond", level)(x, text_meta)

        return self.decode(*self.encode(x), step)


class NormCardioMMUnet(nn.Module):
    """Complex ``(B, C, H, W)`` -> :func:`~.cab.unet_input` -> U-Net -> back."""

    def __init__(self, **unet_kwargs: object) -> None:
        super().__init__()
        self.unet = CardioMMUnet(**unet_kwargs)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, text_meta: torch.Tensor, text_us: torch.Tensor) -> torch.Tensor:
        y, back = unet_input(x)
        return back(self.unet(y, text_meta, text_us))


def _unet_kwargs(cfg: CardioMMOfficialConfig, chans: int, sens: bool, act: nn.Module) -> dict:
    return dict(cfg.unet_kwargs(sens), in_chans=chans, out_chans=chans, text_dim=cfg.llm_embd_dim, act=act)


def acs_mask(mask: torch.Tensor, acs_lines: int, square: bool) -> torch.Tensor:
    """The calibration region of the official ``KspaceACSExtractor``: bool ``(B, 1 or N, H, W)``, the k-space
    points (of a zero-filled k-space) that the sensitivity network sees.

    Parameters
    ----------
    mask: bool ``(B, 1 or N, H, W)`` sampling mask.
    acs_lines: ACS width; for line masks ``0`` means "measure it on the first mask row": twice the distance
        from column ``W // 2`` to the nearest unsampled column (at least 1).
    square: ``True``: keep the sampled points of the centred ``acs_lines`` x ``acs_lines`` square;
        ``False``: keep the columns ``[p, p + n)`` with ``p = (W - n + 1) // 2``, for all rows.
    """
    H, W = mask.shape[-2:]
    if square:
        if acs_lines < 1:
            raise ValueError("acs_mask: a square ACS needs acs_lines >= 1")
        n = acs_lines
        top, left = (H - n + 1) // 2, (W - n + 1) // 2
        region = torch.zeros_like(mask)
        region[..., top: top + n, left: left + n] = mask[..., top: top + n, left: left + n]
        return region
    return acs_columns(mask, int(acs_lines) if acs_lines else None)


class SensitivityModel(nn.Module):
    """Text-conditioned sensitivity estimation from the ACS k-space (one U-Net pass per coil image)."""

    def __init__(self, cfg: CardioMMOfficialConfig, act: nn.Module) -> None:
        super().__init__()
        self.frames = cfg.num_adj_slices
        self.mask_center = cfg.mask_center
        self.norm_unet = NormCardioMMUnet(**_unet_kwargs(cfg, 2, True, act))

    def forward(self, k: torch.Tensor, mask: torch.Tensor, acs_lines: int, square_acs: bool,
                text_meta: torch.Tensor, text_us: torch.Tensor, op: OperatorFactory = SenseOp) -> torch.Tensor:
        """``k (B, F*C, H, W)`` -> sensitivities ``(B, F, C, H, W)`` with unit RSS over each frame's coils; the
        ACS coil images come from ``op`` (:func:`~.cab.coil_images`)."""
        B, N, H, W = k.shape
        region = acs_mask(mask, acs_lines, square_acs) if self.mask_center else None
        images = coil_images(k, op, region).reshape(B * N, 1, H, W)
        maps = self.norm_unet(images, text_meta, text_us).reshape(B, self.frames, N // self.frames, H, W)
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
        """k-space ``(B, F, C, H, W)``; ``A`` the per-frame :func:`~.cab.frame_operator`."""
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
        ``(B, 1 or F*C, H, W)``; ``op`` the operator's constructor ``op(maps, mask)`` for every Fourier transform."""
        smaps = self.sens_net(k0, mask, acs_lines, square_acs, text_meta, text_us, op)  # (B, F, C, H, W)
        A = frame_operator(smaps, by_frame(mask, self.frames), op)
        k0 = by_frame(k0, self.frames)
        k = k0
        for cascade in self.cascades:
            k = cascade(k, k0, A, text_meta, text_us)
        return rss(coil_images(k[:, self.frames // 2], op), dim=1)


class CardioMMOfficial(nn.Module):
    """Network + text heads, with the state-dict layout of the official Lightning module (minus the frozen
    text encoder, ``language_model_no.*``, which is loaded separately from a CLIP folder).

    Inputs of :meth:`forward`:

    * ``kspace``: complex ``(B, F*C, H, W)``, the ``F = num_adj_slices`` adjacent frames (centre frame in the
      middle) each with ``C`` coils, frame-major; zero where not sampled;
    * ``mask``: ``(B, 1 or F*C, H, W)``, non-zero = sampled (a kt mask has a different mask per frame);
    * ``acs_lines``: ACS width (see :func:`acs_mask`); ``square_acs``: square (2D) or line (1D) ACS;
    * ``text_meta``, ``text_us``: ``(B, llm_model_dim)`` text encoder outputs for the metadata and the
      undersampling sentences (:mod:`cardiomm.recon.text_prompts`);
    * ``op``: the operator's constructor ``op(maps, mask)`` (default :class:`~cardiomm.physics.sense.SenseOp`)
      through which every Fourier transform goes: the data consistency per frame from the estimated maps and the
      mask, the ACS and output coil images with unit maps.

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
        k0, mask = zero_filled_input("CardioMMOfficial", kspace, mask, c.num_adj_slices)
        B = kspace.shape[0]
        for name, t in (("text_meta", text_meta), ("text_us", text_us)):
            if tuple(t.shape) != (B, c.llm_model_dim):
                raise ValueError(f"CardioMMOfficial: {name} must be (B={B}, {c.llm_model_dim}), got {tuple(t.shape)}")
        return self.metausunetlight(k0, mask, int(acs_lines), bool(square_acs),
                                    self.lm_head_meta(text_meta), self.lm_head_us(text_us), op)
