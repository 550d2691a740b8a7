"""CardioMM: a metadata-prompted unrolled multi-coil reconstruction network (after Wang et al., arXiv 2512.21652).

Written from the paper's description, not from its code. One model serves all modalities and masks:

1. **Coil sensitivities, once.** A small U-Net refines the ACS-only coil images (applied per coil, all coils
   sharing one intensity scale so their relative magnitudes survive); the result is normalised to unit RSS
   with :func:`cardiomm.physics.coils.normalize_smaps` and shared by every cascade.
2. **Unrolled cascades.** Cascade ``i`` coil-combines the current multi-coil k-space, refines the image with a
   prompt-conditioned U-Net (squeeze-excitation blocks), expands the update back with the maps, and applies
   a learnable soft data consistency at sampled locations::

       x   = S^H F^-1 k                         (SenseOp(S).H, cardiomm.physics.sense)
       k  <- k + F S dx,   dx = UNet_i(x, context; scan, us)
       k  <- k - w_i M (k - k0),   w_i = sigmoid(theta_i) in (0, 1)

   ``w_i = 1`` replaces the prediction by the measurement at sampled points; :meth:`CardioMM.set_hard_dc`
   switches every cascade to that exact replacement (the ``lambda -> inf`` limit of the proximal step
   ``(k + lambda k0) / (1 + lambda)``), so the final multi-coil k-space equals ``k0`` wherever ``M = 1``.
3. **Dynamic adaptive mechanism.** The scan prompt vector FiLM-gates the bottleneck and every decoder level;
   the undersampling prompt vector mixes (softmax) a learned bank of spatial prompt components injected at
   the same levels (see :mod:`cardiomm.recon.learned.prompts`).
4. **Optional temporal context** (``temporal_context = k``): the zero-filled coil-combined images of ``k``
   neighbouring frames on each side enter every refinement U-Net as extra channels.

The physics (the SENSE operator :class:`cardiomm.physics.sense.SenseOp`, the ACS coil maps of
:mod:`cardiomm.physics.coilmaps`, RSS normalisation) comes from :mod:`cardiomm.physics`; nothing here defines
its own transform.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from cardiomm.physics.coilmaps import acs_coil_images, acs_smaps, calibration_region, zero_filled_image
from cardiomm.physics.coils import normalize_smaps
from cardiomm.physics.sense import OperatorFactory, SenseOp
from cardiomm.recon.learned.networks.blocks import PromptUNet
from cardiomm.recon.learned.prompts import PromptConfig, PromptEncoder
from cardiomm.recon.learned.sample import FrameSample

_EPS = 1e-12


@dataclass
class CardioMMConfig:
    """Hyper-parameters of :class:`CardioMM` (defaults: the CPU-sized shipped model).

    Attributes
    ----------
    cascades: number of unrolled cascades.
    features, levels: refinement U-Net width (first level) and depth.
    sens_features, sens_levels: sensitivity U-Net width and depth.
    use_prompts: ``False`` removes all metadata conditioning (ablation).
    scan_dim, us_dim, token_dim: prompt vector sizes and per-token embedding size.
    n_components, prompt_channels: undersampling prompt bank size.
    temporal_context: neighbouring frames on each side fed as extra input (0 = off; ablation switch).
    se: squeeze-excitation channel attention in every U-Net block.
    dc_init: initial logit of every DC weight (``sigmoid(2) = 0.88``).
    scan_vocab, us_vocab: embedding table sizes, stored so old checkpoints survive vocabulary growth.
    """

    cascades: int = 5
    features: int = 12
    levels: int = 3
    sens_features: int = 8
    sens_levels: int = 2
    use_prompts: bool = True
    scan_dim: int = 32
    us_dim: int = 16
    token_dim: int = 8
    n_components: int = 8
    prompt_channels: int = 8
    temporal_context: int = 0
    se: bool = True
    dc_init: float = 2.0
    scan_vocab: tuple[int, ...] = field(default_factory=lambda: PromptConfig().scan_vocab)
    us_vocab: tuple[int, ...] = field(default_factory=lambda: PromptConfig().us_vocab)

    def __post_init__(self) -> None:
        self.scan_vocab = tuple(int(v) for v in self.scan_vocab)
        self.us_vocab = tuple(int(v) for v in self.us_vocab)
        for name in ("cascades", "features", "levels", "sens_features", "sens_levels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"CardioMMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.temporal_context < 0:
            raise ValueError(f"CardioMMConfig.temporal_context must be >= 0, got {self.temporal_context}")

    def to_dict(self) -> dict:
        return asdict(self)


#: close to the public CardioMM training setup (10 cascades, 48 features, 3 levels)
PAPER_CONFIG = CardioMMConfig(cascades=10, features=48, levels=3, sens_features=16, sens_levels=3,
                              scan_dim=64, us_dim=32, token_dim=16, n_components=8, prompt_channels=16)


def _check(name: str, t: torch.Tensor, shape: tuple, complex_: bool | None = None) -> None:
    if t.ndim != len(shape) or any(s is not None and a != s for a, s in zip(t.shape, shape)):
        raise ValueError(f"CardioMM.forward: {name} must have shape {shape} (None = any), got {tuple(t.shape)}")
    if complex_ is True and not t.is_complex():
        raise ValueError(f"CardioMM.forward: {name} must be complex, got {t.dtype}")


class CardioMM(nn.Module):
    """The CardioMM reconstruction network (see module docstring).

    ``forward(sample, op=SenseOp, smaps=None)``

    Parameters
    ----------
    sample: a batched :class:`~cardiomm.recon.learned.sample.FrameSample`: ``kspace`` complex ``(B, C, H, W)``
        undersampled multi-coil k-space (values outside the mask are ignored), H = phase encoding (ny),
        W = readout (nx), DC at ``(H // 2, W // 2)``; ``mask`` float ``(B, 1, H, W)``, 1 = sampled; ``acs`` bool
        ``(B, 1, H, W)`` auto-calibration region (only its sampled points are used); ``scan_tokens`` long
        ``(B, 5)``, ``us_tokens`` long ``(B, 2)``, ``us_cont`` float ``(B, 1)`` = log2(R) (needed when
        ``use_prompts``); ``context`` complex ``(B, 2k, H, W)`` zero-filled coil-combined neighbouring frames
        (``t-k .. t-1, t+1 .. t+k``) when ``temporal_context = k > 0``; ``None`` replicates the centre frame.
    op: the data-consistency operator's constructor ``op(maps, mask)`` (default
        :class:`cardiomm.physics.sense.SenseOp`), built from the estimated maps and the sampled points.
    smaps: optional complex ``(B, C, H, W)`` maps overriding the learned estimate (tests, external maps).

    Returns
    -------
    complex ``(B, H, W)`` coil-combined image ``S^H F^-1 k_final`` in the scale of the input k-space.
    """

    def __init__(self, cfg: CardioMMConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or CardioMMConfig()
        self.config = cfg
        self.hard_dc = False
        k = cfg.temporal_context
        self.sens_net = PromptUNet(2, 2, cfg.sens_features, cfg.sens_levels, se=False)
        scan_dim = cfg.scan_dim if cfg.use_prompts else 0
        us_dim = cfg.us_dim if cfg.use_prompts else 0
        self.prompts = (
            PromptEncoder(PromptConfig(cfg.scan_dim, cfg.us_dim, cfg.token_dim, cfg.scan_vocab, cfg.us_vocab))
            if cfg.use_prompts else None
        )
        self.refine = nn.ModuleList(
            PromptUNet(2 + 4 * k, 2, cfg.features, cfg.levels, scan_dim, us_dim, cfg.n_components,
                       cfg.prompt_channels, cfg.se)
            for _ in range(cfg.cascades)
        )
        self.dc_logit = nn.Parameter(torch.full((cfg.cascades,), float(cfg.dc_init)))

    # ------------------------------------------------------------------ pieces

    def set_hard_dc(self, hard: bool = True) -> CardioMM:
        """Switch every cascade to exact replacement of sampled k-space (DC weight = infinity)."""
        self.hard_dc = bool(hard)
        return self

    def dc_weights(self) -> torch.Tensor:
        """Per-cascade soft DC weights ``w_i`` in (0, 1), shape ``(cascades,)``."""
        return torch.sigmoid(self.dc_logit)

    def estimate_smaps(self, k0: torch.Tensor, acs: torch.Tensor, op: OperatorFactory = SenseOp) -> torch.Tensor:
        """Sensitivity maps from the ACS region.

        Parameters
        ----------
        k0: complex ``(B, C, H, W)`` measured k-space; acs: bool ``(B, 1, H, W)``; op: the operator's constructor
        (the ACS coil images are ``op(None, acs).H(k0)``).

        Returns
        -------
        complex ``(B, C, H, W)`` with ``sum_c |S_c|^2 = 1``.
        """
        coil = acs_coil_images(k0, acs, op)
        B, C, H, W = coil.shape
        # one scale per sample for all coils: the relative coil magnitudes are the information
        scale = coil.abs().pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + _EPS
        z = torch.view_as_real(coil / scale).permute(0, 1, 4, 2, 3).reshape(B * C, 2, H, W)
        z = z + self.sens_net(z).float()
        z = z.reshape(B, C, 2, H, W).permute(0, 1, 3, 4, 2).contiguous()
        return normalize_smaps(torch.view_as_complex(z))

    def _refine(self, i: int, x: torch.Tensor, context: torch.Tensor | None, scan: torch.Tensor | None,
                us: torch.Tensor | None) -> torch.Tensor:
        """Image update of cascade ``i``: complex ``(B, H, W)`` -> complex ``(B, H, W)``."""
        xr = torch.view_as_real(x).permute(0, 3, 1, 2)  # (B, 2, H, W)
        mean = xr.mean(dim=(2, 3), keepdim=True)
        std = xr.std(dim=(1, 2, 3), keepdim=True) + _EPS
        chans = [(xr - mean) / std]
        if context is not None:
            B, K, H, W = context.shape
            cr = torch.view_as_real(context).permute(0, 1, 4, 2, 3).reshape(B, K, 2, H, W)
            chans.append(((cr - mean[:, None]) / std[:, None]).reshape(B, 2 * K, H, W))
        y = self.refine[i](torch.cat(chans, dim=1), scan, us).float() * std
        return torch.complex(y[:, 0], y[:, 1])

    def _dc(self, i: int, k: torch.Tensor, k0: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
        if self.hard_dc:
            return torch.where(sampled, k0, k)
        w = torch.sigmoid(self.dc_logit[i])
        return k - w * sampled.to(k.real.dtype) * (k - k0)

    # ------------------------------------------------------------------ forward

    def forward_all(self, sample: FrameSample, op: OperatorFactory = SenseOp,
                    smaps: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Like :meth:`forward` but returns ``{"image" (B, H, W), "kspace" (B, C, H, W), "smaps" (B, C, H, W)}``,
        ``kspace`` being the final multi-coil k-space prediction."""
        kspace, mask, acs, context = sample.kspace, sample.mask, sample.acs, sample.context
        _check("kspace", kspace, (None, None, None, None), complex_=True)
        B, C, H, W = kspace.shape
        _check("mask", mask, (B, 1, H, W))
        _check("acs", acs, (B, 1, H, W))
        kspace = kspace.to(torch.complex64)
        sampled = mask > 0
        k0 = torch.where(sampled, kspace, torch.zeros_like(kspace))
        acs = calibration_region(acs, sampled)
        if smaps is None:
            smaps = self.estimate_smaps(k0, acs, op)
        else:
            _check("smaps", smaps, (B, C, H, W), complex_=True)
        kc = self.config.temporal_context
        if kc > 0:
            if context is None:  # no neighbours known: replicate the centre frame
                context = zero_filled_image(k0, acs_smaps(k0, acs, op), op).unsqueeze(1).expand(B, 2 * kc, H, W)
            _check("context", context, (B, 2 * kc, H, W), complex_=True)
            context = context.to(torch.complex64)
        else:
            context = None
        scan = us = None
        if self.prompts is not None:
            for name, t, shape in (("scan_tokens", sample.scan_tokens, (B, None)),
                                   ("us_tokens", sample.us_tokens, (B, 2)), ("us_cont", sample.us_cont, (B, 1))):
                if t is None:
                    raise ValueError(f"CardioMM.forward: the sample has no {name} (a prompted model needs them)")
                _check(name, t, shape)
            scan, us = self.prompts(sample.scan_tokens, sample.us_tokens, sample.us_cont)
        A = op(smaps, sampled)  # the data-consistency operator A = M F S
        coil = A.unmasked()  # F S: coil transforms of the predicted (full) k-space
        k = k0
        for i in range(self.config.cascades):
            x = coil.H(k)
            k = k + coil(self._refine(i, x, context, scan, us))
            k = self._dc(i, k, k0, A.mask)
        return {"image": coil.H(k), "kspace": k, "smaps": smaps}

    def forward(self, sample: FrameSample, op: OperatorFactory = SenseOp,
                smaps: torch.Tensor | None = None) -> torch.Tensor:
        """Complex coil-combined image ``(B, H, W)``; see the class docstring for shapes."""
        return self.forward_all(sample, op, smaps)["image"]
