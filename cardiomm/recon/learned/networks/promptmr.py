"""PromptMR+ (Xin et al., winner of CMRxRecon 2024; hellopipu/PromptMR-plus ``models/promptmr.py``), written here.

Re-implemented from the repository's description and code (not copied), with native complex tensors. Every
Fourier transform goes through the project's SENSE operator (:class:`cardiomm.physics.sense.SenseOp`), passed to
:meth:`PromptMR.forward` as ``op`` like the other networks': the data consistency and the coil transforms of the
cascades per frame (:func:`~.cab.frame_operator`), the ACS coil images of the sensitivity
network and the coil images of the output with unit sensitivities (:func:`~.cab.coil_images`).
The U-Net is the shared :class:`~.cab.CABUnet` with PromptMR+'s decoder levels. Module
attribute names follow
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
    previous cascade, the zero-filled image ``x_0`` and ``A^H A x_i - x_0``; with ``n_buffer`` other than 4
    the official code has had two orders (``buffer_order``, :func:`adaptive_buffer`);
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

Official revisions (hellopipu/PromptMR-plus). The adaptive-input buffer for ``n_buffer`` other than 4 changed on
2025-09-04: ``models/promptmr.py`` in ba66423 and ``models/promptmr_v2.py`` in 18a0a72 (where, up to the newest
commit 934eeda, the cascade reads a ``n_buffer`` attribute it never sets, so that file cannot run with adaptive
input). Before (from the code release of 2025-01-23, published with the weights, up to 0dd8ce5):
``buffer_order="repeat_difference"``, ``[A^H A x, latent, x_0] + [A^H A x - x_0] * (n_buffer - 3)``; after:
``"repeat_latent"``, ``[A^H A x] + [latent] * (n_buffer - 3) + [x_0, A^H A x - x_0]``. At ``n_buffer = 4`` (every
released configuration) both are the same. A checkpoint does not record its code revision: set
``buffer_order`` in the model config for a checkpoint trained with the newer order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cardiomm.physics.coils import expand, rss
from cardiomm.physics.sense import OperatorFactory, SenseOp
from cardiomm.recon.learned.networks.cab import (
    CAB,
    CABUnet,
    CABUnetConfig,
    PromptBank,
    acs_columns,
    by_frame,
    coil_images,
    frame_operator,
    unet_input,
    zero_filled_input,
)
from cardiomm.recon.learned.networks.cab import UpBlock as _UpBlock

__all__ = ["PromptMR", "PromptMRConfig", "PAPER_CONFIG", "BUFFER_ORDERS", "acs_kind_for", "adaptive_buffer"]

#: the adaptive-input buffer orders of the official revisions (module docstring); the first is the default
BUFFER_ORDERS = ("repeat_difference", "repeat_latent")


@dataclass
class PromptMRConfig(CABUnetConfig):
    """Hyper-parameters, named as the official ``PromptMrModule`` arguments (defaults: ``pmr-plus.yaml``).
    The shared U-Net fields are :class:`~.cab.CABUnetConfig`'s."""

    len_prompt: tuple[int, ...] = (5, 5, 5)
    learnable_prompt: bool = False
    adaptive_input: bool = True
    n_buffer: int = 4
    n_history: int = 11
    use_sens_adj: bool = True
    #: ``"promptmr"`` (``models/promptmr.py``: k-space cascades) or ``"promptmr_v2"`` (``models/promptmr_v2.py``,
    #: the official Lightning module's default: image-domain cascades); same state-dict keys, different forward
    model_version: str = "promptmr_v2"
    #: order of the adaptive-input buffer for ``n_buffer`` other than 4 (:data:`BUFFER_ORDERS`,
    #: :func:`adaptive_buffer`): ``"repeat_difference"`` (official code up to 2025-09-04, incl. the release) or
    #: ``"repeat_latent"`` (official code since then); not an official argument, a checkpoint does not record it
    buffer_order: str = "repeat_difference"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.adaptive_input and self.n_buffer < 3:
            raise ValueError(f"PromptMRConfig.n_buffer must be >= 3 with adaptive_input, got {self.n_buffer}")
        if self.model_version not in ("promptmr", "promptmr_v2"):
            raise ValueError(f"PromptMRConfig.model_version must be 'promptmr' or 'promptmr_v2', got "
                             f"{self.model_version!r}")
        if self.n_history < 0:
            raise ValueError("PromptMRConfig: n_history must be >= 0")
        if self.buffer_order not in BUFFER_ORDERS:
            raise ValueError(f"PromptMRConfig.buffer_order must be one of {BUFFER_ORDERS}, got {self.buffer_order!r}")

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


def adaptive_buffer(ffx: torch.Tensor, latent: torch.Tensor, img_zf: torch.Tensor, n_buffer: int,
                    order: str) -> torch.Tensor:
    """The cascade U-Net's extra input images, ``(B, n_buffer * F, H, W)`` from three ``(B, F, H, W)``.

    ``ffx = A^H A x_i``, ``latent`` (the previous cascade's latent output), ``img_zf = x_0 = A^H k_0``;
    ``order`` (:data:`BUFFER_ORDERS`): ``"repeat_difference"`` ``[ffx, latent, x_0] + [ffx - x_0] * (n - 3)``,
    ``"repeat_latent"`` ``[ffx] + [latent] * (n - 3) + [x_0, ffx - x_0]``; equal for ``n_buffer = 4``.
    """
    if order == "repeat_difference":
        parts = [ffx, latent, img_zf] + [ffx - img_zf] * (n_buffer - 3)
    elif order == "repeat_latent":
        parts = [ffx] + [latent] * (n_buffer - 3) + [img_zf, ffx - img_zf]
    else:
        raise ValueError(f"adaptive_buffer: order must be one of {BUFFER_ORDERS}, got {order!r}")
    return torch.cat(parts, dim=1)


def acs_mask(mask: torch.Tensor, acs_lines: int, acs_kind: str) -> torch.Tensor:
    """PromptMR+'s calibration region, bool ``(B, 1 or N, H, W)``: the k-space points (of a zero-filled
    k-space) that the sensitivity network sees; ``mask`` bool ``(B, 1 or N, H, W)``.

    ``"square"``: sampled points of the ``n x n`` square starting at ``(H // 2 - n // 2, W // 2 - n // 2)``;
    ``"lines"``: columns ``[p, p + n)``, ``p = (W - n + 1) // 2``, of every row (sampled or not, as the official
    line extractor); ``acs_lines == -1`` measures ``n`` on the first mask row (twice the distance from
    ``W // 2`` to the nearest unsampled column, at least 1).
    """
    H, W = mask.shape[-2:]
    if acs_kind == "square":
        n = int(acs_lines)
        top, left = H // 2 - n // 2, W // 2 - n // 2
        region = torch.zeros_like(mask)
        region[..., top: top + n, left: left + n] = mask[..., top: top + n, left: left + n]
        return region
    if acs_kind != "lines":
        raise ValueError(f"acs_mask: acs_kind must be 'lines' or 'square', got {acs_kind!r}")
    return acs_columns(mask, None if acs_lines == -1 else int(acs_lines))


class PromptBlock(PromptBank):
    """Image-adaptive prompt: the bank mixed by ``softmax(linear(mean_hw(x)))``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, lin_dim, H, W)`` -> ``(B, prompt_dim, H, W)``."""
        return self.prompt(self.weights(x.mean(dim=(-2, -1))), x.shape[-2:])


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


class PromptUnet(CABUnet):
    """The shared :class:`~.cab.CABUnet` with image-adaptive prompts (``prompt_level<i>``)
    and decoder levels fused with the previous cascades' features (``dec_level<i>``, ``n_history > 0``)."""

    def __init__(self, chans: int, n_feat0: int, feature_dim: tuple[int, ...], prompt_dim: tuple[int, ...],
                 len_prompt: tuple[int, ...], prompt_size: tuple[int, ...], n_enc_cab: tuple[int, ...],
                 n_dec_cab: tuple[int, ...], n_skip_cab: tuple[int, ...], n_bottleneck_cab: int, no_use_ca: bool,
                 learnable_prompt: bool, n_history: int, act: nn.Module, kernel_size: int = 3,
                 reduction: int = 4, bias: bool = False) -> None:
        def level_blocks(level: int, cin: int, cout: int) -> dict[str, nn.Module]:
            i = level - 1
            return {"prompt": PromptBlock(prompt_dim[i], len_prompt[i], prompt_size[i], cin, learnable_prompt),
                    "dec": UpBlock(cin, cout, prompt_dim[i], n_dec_cab[i], kernel_size, reduction, bias, act,
                                   no_use_ca, n_history)}

        super().__init__(chans, chans, n_feat0, feature_dim, n_enc_cab, n_skip_cab, n_bottleneck_cab, no_use_ca,
                         act, level_blocks, kernel_size, reduction, bias)
        self.n_history = n_history

    def forward(self, x: torch.Tensor, history: list[torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """``x (B, chans, H, W)``; ``history``: per decoder level (3, 2, 1) the previous cascades' features."""
        current: list[torch.Tensor] = []

        def step(j: int, level: int, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
            current.append(x)
            return self.block("dec", level)(x, self.block("prompt", level)(x), skip,
                                            None if history is None else history[j])

        y = self.decode(*self.encode(x), step)
        if self.n_history == 0:
            return y, None
        if history is None:  # first cascade: the current features stand in for all previous ones
            new = [c.repeat(1, self.n_history, 1, 1) for c in current]
        else:  # newest first; the oldest cascade's features drop out
            new = [torch.cat([c, h[:, : h.shape[1] - c.shape[1]]], dim=1) for c, h in zip(current, history)]
        return y, new


class NormPromptUnet(nn.Module):
    """Complex ``(B, n, H, W)`` (+ buffer images) -> :func:`~.cab.unet_input` -> U-Net."""

    def __init__(self, **unet_kwargs: object) -> None:
        super().__init__()
        self.unet = PromptUnet(**unet_kwargs)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, history: list[torch.Tensor] | None = None,
                buffer: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor] | None]:
        """``(output (B, n, H, W), latent (B, n, H, W) or None, history)``."""
        n = x.shape[1]
        y, back = unet_input(x if buffer is None else torch.cat([x, buffer], dim=1))
        y, history = self.unet(y, history)
        y = back(y)
        if buffer is None:
            return y, None, history
        return y[:, :n], y[:, 2 * n: 3 * n], history


def _unet_kwargs(cfg: PromptMRConfig, chans: int, sens: bool, act: nn.Module) -> dict:
    return dict(cfg.unet_kwargs(sens), chans=chans, learnable_prompt=cfg.learnable_prompt,
                n_history=0 if sens else cfg.n_history, act=act)


class SensitivityModel(nn.Module):
    """Sensitivities from the ACS k-space: per coil, the adjacent frames' images through a prompt U-Net."""

    def __init__(self, cfg: PromptMRConfig, act: nn.Module) -> None:
        super().__init__()
        self.frames, self.adj, self.mask_center = cfg.num_adj_slices, cfg.use_sens_adj, cfg.mask_center
        self.norm_unet = NormPromptUnet(**_unet_kwargs(cfg, 2 * self.frames if self.adj else 2, True, act))

    def forward(self, k: torch.Tensor, mask: torch.Tensor, acs_lines: int, acs_kind: str,
                op: OperatorFactory = SenseOp) -> torch.Tensor:
        """``k (B, F*C, H, W)`` -> ``(B, F, C, H, W)`` with unit RSS over each frame's coils; the ACS coil images
        come from ``op`` (:func:`~.cab.coil_images`)."""
        B, N, H, W = k.shape
        Fr, C = self.frames, N // self.frames
        region = acs_mask(mask, acs_lines, acs_kind) if self.mask_center else None
        img = coil_images(k, op, region).reshape(B, Fr, C, H, W)
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
        """k-space ``(B, F, C, H, W)``; ``A`` the per-frame :func:`~.cab.frame_operator`."""
        soft_dc = torch.where(A.mask, k - k0, torch.zeros((), dtype=k.dtype, device=k.device)) * self.dc_weight
        full = A.unmasked()  # F S: the cascade's coil transforms act on the whole predicted k-space
        pred, latent, history = self.model(full.H(k), history, buffer)
        return k - soft_dc - full(pred), latent, history


class PromptMR(nn.Module):
    """PromptMR+ (state keys ``sens_net.*``, ``cascades.<i>.*``).

    :meth:`forward` inputs: ``kspace`` complex ``(B, F*C, H, W)`` (frame-major adjacent frames, zero where not
    sampled), ``mask`` ``(B, 1 or F*C, H, W)`` non-zero = sampled, ``acs_lines`` (``-1``: measure it for line
    masks), ``acs_kind`` (``"lines"``/``"square"``, :func:`acs_kind_for`), ``op`` the operator's constructor
    ``op(maps, mask)`` (default :class:`~cardiomm.physics.sense.SenseOp`) through which every Fourier transform
    goes: the data consistency per frame from the estimated maps and the mask, the ACS and output coil images
    with unit maps. Output: real ``(B, H, W)`` RSS magnitude of the centre frame.
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
        k0, mask = zero_filled_input("PromptMR", kspace, mask, c.num_adj_slices)
        smaps = self.sens_net(k0, mask, int(acs_lines), acs_kind, op)  # (B, F, C, H, W)
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
                buffer = adaptive_buffer(ffx, latent, img_zf, c.buffer, c.buffer_order)
        return rss(coil_images(k[:, centre], op), dim=1)

    def _forward_v2(self, k0: torch.Tensor, A: SenseOp) -> torch.Tensor:
        """Image-domain cascades (``promptmr_v2``): ``x - w (A^H A x - x0) - net(x)``; ``k0 (B, F, C, H, W)``,
        returns ``(B, F, H, W)``."""
        c = self.config
        img_zf = A.H(k0)
        img, latent, history = img_zf, img_zf, None
        for cascade in self.cascades:
            ffx = A.N(img)
            buffer = adaptive_buffer(ffx, latent, img_zf, c.buffer, c.buffer_order) if c.buffer else None
            term, new_latent, history = cascade.model(img, history, buffer)
            latent = new_latent if new_latent is not None else latent
            img = img - (ffx - img_zf) * cascade.dc_weight - term
        return img
