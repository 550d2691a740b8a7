"""k-t Net: a spatiotemporal unrolled multi-coil reconstruction of a whole series (x-y-t), ours.

The frame networks (:mod:`~cardiomm.recon.learned.networks.cardiomm`, E2E-VarNet) regularise each frame in 2D;
k-t TV (:mod:`cardiomm.recon.classical.cs`) wins at high acceleration because it uses the redundancy across
frames. k-t Net regularises every frame of a slice jointly, in the style of the 3D-convolutional cascades of
Schlemper et al. 2018 and the temporal recurrence of CRNN-MRI (Qin et al. 2019), here with factorised (2+1)D
convolutions (a 3x3 spatial then a ``temporal_kernel`` temporal convolution, Tran et al. 2018):

1. **Coil sensitivities, once per slice.** The time-averaged ACS data (every frame's sampled ACS points, averaged
   where sampled) give the ACS coil images (:func:`cardiomm.physics.coilmaps.acs_coil_images`), refined per coil by
   a small 2D U-Net and normalised to unit RSS; every frame and cascade shares them.
2. **Unrolled k-t cascades.** For the series ``k`` (``T`` frames)::

       x   = S^H F^-1 k                         (SenseOp(S).unmasked().H, per frame)
       k  <- k + F S R_i(x)                     R_i: (2+1)D U-Net over x-y-t
       k  <- k - w_i M_t (k - k0)               each frame with its own mask M_t, w_i = sigmoid(theta_i)

   The temporal convolutions pad **circularly** for cine (the frames tile one cardiac cycle) and by replication
   for a mapping series (its weightings are not periodic): the same rule as k-t TV's temporal difference.
   :meth:`KTNet.set_hard_dc` switches every cascade to exact replacement of the sampled points.

Training and inference see the same input: the whole series of one slice, normalised by one scale
(:func:`cardiomm.recon.learned.data.prepare_series`), so there is no window the network was not trained on.
The physics (:class:`cardiomm.physics.sense.SenseOp`, the ACS rules of :mod:`cardiomm.physics.coilmaps`) is
injected; nothing here defines its own transform.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cardiomm.physics.coilmaps import acs_coil_images, calibration_region
from cardiomm.physics.coils import normalize_smaps
from cardiomm.physics.sense import OperatorFactory, SenseOp
from cardiomm.recon.learned.networks.blocks import PromptUNet
from cardiomm.recon.learned.sample import FrameSample

_EPS = 1e-12


@dataclass
class KTNetConfig:
    """Hyper-parameters of :class:`KTNet` (defaults: the CPU-sized shipped model, 1.40 M parameters, near
    PromptMR+'s 1.21 M).

    Attributes
    ----------
    cascades: number of unrolled k-t cascades.
    features, levels: width of the first level of each cascade's (2+1)D U-Net and its number of spatial
        downsamplings (level ``l`` has ``features * 2**l`` channels; time is never downsampled).
    temporal_kernel: odd size of the temporal convolutions (frames seen on each side per convolution: half of it).
    sens_features, sens_levels: sensitivity U-Net width and depth.
    dc_init: initial logit of every DC weight (``sigmoid(2) = 0.88``).
    """

    cascades: int = 4
    features: int = 16
    levels: int = 3
    temporal_kernel: int = 3
    sens_features: int = 8
    sens_levels: int = 2
    dc_init: float = 2.0

    def __post_init__(self) -> None:
        for name in ("cascades", "features", "levels", "sens_features", "sens_levels", "temporal_kernel"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"KTNetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.temporal_kernel % 2 == 0:
            raise ValueError(f"KTNetConfig.temporal_kernel must be odd, got {self.temporal_kernel}")

    def to_dict(self) -> dict:
        return asdict(self)


def series_norm(h: torch.Tensor, T: int, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
                ) -> torch.Tensor:
    """Instance norm of a series: each channel of each series normalised over all its frames and pixels.

    ``h``: real ``(B * T, C, H, W)`` (frames of ``B`` series of ``T`` frames, frame-major); ``weight``, ``bias``:
    ``(C,)`` affine parameters. Returns the same shape. One statistic per series, not per frame, so the frames'
    relative intensities (a mapping series' decay) survive.
    """
    BT, C, H, W = h.shape
    v = h.reshape(BT // T, T, C, H * W)
    mean = v.mean(dim=(1, 3), keepdim=True)
    var = v.var(dim=(1, 3), keepdim=True, unbiased=False)
    v = (v - mean) * torch.rsqrt(var + eps)
    return (v * weight[:, None] + bias[:, None]).reshape(BT, C, H, W)


def shift_frames(h: torch.Tensor, T: int, d: int, circular: bool) -> torch.Tensor:
    """Frame ``t`` of the result is frame ``t + d`` of ``h`` ``(B * T, ...)``: wrapped around (``circular``) or the
    end frame repeated beyond the series."""
    idx = torch.arange(T, device=h.device) + d
    idx = idx % T if circular else idx.clamp(0, T - 1)
    v = h.reshape(h.shape[0] // T, T, *h.shape[1:])
    return v[:, idx].reshape(h.shape)


class XYTBlock(nn.Module):
    """(2+1)D block: 3x3 spatial conv, norm, LeakyReLU, ``kt`` temporal conv, norm, LeakyReLU; residual 1x1 skip.

    ``forward(h (B * T, cin, H, W), T, circular) -> (B * T, cout, H, W)`` (the frames of ``B`` series). The temporal
    convolution sees ``kt // 2`` frames on each side (wrapped around for cine, the end frames repeated for a mapping
    series): a 1x1 convolution of the frames shifted by ``-kt//2 .. kt//2`` stacked as channels, the same
    arithmetic as a ``(kt, 1, 1)`` ``Conv3d`` but in the frame layout the spatial convolutions use (CPUs run
    2D convolutions far faster than 3D ones, and the layout never changes). Norms: :func:`series_norm`.
    """

    def __init__(self, cin: int, cout: int, kt: int) -> None:
        super().__init__()
        self.kt = kt
        self.spatial = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.temporal = nn.Conv2d(kt * cout, cout, 1, bias=False)
        self.norm_w = nn.Parameter(torch.ones(2, cout))
        self.norm_b = nn.Parameter(torch.zeros(2, cout))
        self.act = nn.LeakyReLU(0.1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, h: torch.Tensor, T: int, circular: bool) -> torch.Tensor:
        y = self.act(series_norm(self.spatial(h), T, self.norm_w[0], self.norm_b[0]))
        p = self.kt // 2
        if p:
            y = torch.cat([shift_frames(y, T, d, circular) if d else y for d in range(-p, p + 1)], dim=1)
        y = self.act(series_norm(self.temporal(y), T, self.norm_w[1], self.norm_b[1]))
        return y + self.skip(h)


class XYTUNet(nn.Module):
    """U-Net over x-y-t with :class:`XYTBlock` s; pooling and upsampling are spatial only (per frame).

    ``forward(x (B * T, cin, H, W), T, circular) -> (B * T, cout, H, W)``; H and W are padded to a multiple of
    ``2**levels`` (reflection) and cropped back.
    """

    def __init__(self, cin: int, cout: int, features: int, levels: int, kt: int) -> None:
        super().__init__()
        self.levels = levels
        ch = [features * 2**i for i in range(levels + 1)]
        self.enc = nn.ModuleList()
        prev = cin
        for c in ch[:-1]:
            self.enc.append(XYTBlock(prev, c, kt))
            prev = c
        self.bottleneck = XYTBlock(ch[-2], ch[-1], kt)
        self.up = nn.ModuleList(nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in reversed(range(levels)))
        self.dec = nn.ModuleList(XYTBlock(2 * ch[i], ch[i], kt) for i in reversed(range(levels)))
        self.out = nn.Conv2d(ch[0], cout, 1)

    def forward(self, x: torch.Tensor, T: int, circular: bool) -> torch.Tensor:
        H, W = x.shape[-2:]
        m = 2**self.levels
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            mode = "reflect" if ph < H and pw < W else "replicate"
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode=mode)
        skips = []
        h = x
        for blk in self.enc:
            h = blk(h, T, circular)
            skips.append(h)
            h = F.avg_pool2d(h, 2)
        h = self.bottleneck(h, T, circular)
        for up, dec in zip(self.up, self.dec):
            h = dec(torch.cat([up(h), skips.pop()], dim=1), T, circular)
        y = self.out(h)
        if ph or pw:
            y = y[..., ph // 2: ph // 2 + H, pw // 2: pw // 2 + W]
        return y


def _check(name: str, t: torch.Tensor | None, shape: tuple) -> torch.Tensor:
    if t is None:
        raise ValueError(f"KTNet.forward: the sample has no {name} (a series sample: "
                         "cardiomm.recon.learned.data.prepare_series)")
    if t.ndim != len(shape) or any(s is not None and a != s for a, s in zip(t.shape, shape)):
        raise ValueError(f"KTNet.forward: {name} must have shape {shape} (None = any), got {tuple(t.shape)}")
    return t


class KTNet(nn.Module):
    """The k-t Net (see module docstring). A series network: it reconstructs every frame of a slice at once.

    ``forward(sample, op=SenseOp, smaps=None)``

    Parameters
    ----------
    sample: a batched series :class:`~cardiomm.recon.learned.sample.FrameSample`
        (:func:`cardiomm.recon.learned.data.prepare_series`): ``adjacent`` complex ``(B, T, C, H, W)`` the slice's
        normalised undersampled k-space (values outside the masks are ignored), H = phase encoding, DC at
        ``(H // 2, W // 2)``; ``adjacent_mask`` float ``(B, T, H, W)`` each frame's mask, 1 = sampled; ``acs`` bool
        ``(B, 1, H, W)`` the ACS region; ``circular`` bool ``(B,)`` cine (periodic time), the same for the batch.
    op: the data-consistency operator's constructor ``op(maps, mask)`` (default :class:`SenseOp`).
    smaps: optional complex ``(B, C, H, W)`` maps overriding the learned estimate (tests, external maps).

    Returns
    -------
    complex ``(B, T, H, W)``: every frame's coil-combined image ``S^H F^-1 k_final``, in the input's scale.
    """

    #: takes and returns whole series (the training engine and inference read this)
    series = True

    def __init__(self, cfg: KTNetConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or KTNetConfig()
        self.config = cfg
        self.hard_dc = False
        self.sens_net = PromptUNet(2, 2, cfg.sens_features, cfg.sens_levels, se=False)
        self.refine = nn.ModuleList(XYTUNet(2, 2, cfg.features, cfg.levels, cfg.temporal_kernel)
                                    for _ in range(cfg.cascades))
        self.dc_logit = nn.Parameter(torch.full((cfg.cascades,), float(cfg.dc_init)))

    def set_hard_dc(self, hard: bool = True) -> KTNet:
        """Switch every cascade to exact replacement of sampled k-space (DC weight = infinity)."""
        self.hard_dc = bool(hard)
        return self

    def estimate_smaps(self, k0: torch.Tensor, sampled: torch.Tensor, acs: torch.Tensor,
                       op: OperatorFactory = SenseOp) -> torch.Tensor:
        """Sensitivity maps of a slice from its time-averaged ACS data.

        Parameters
        ----------
        k0: complex ``(B, T, C, H, W)`` measured k-space (zero where not sampled); sampled: bool ``(B, T, 1, H, W)``;
        acs: bool ``(B, 1, H, W)``; op: the operator's constructor (ACS coil images ``op(None, acs).H``).

        Returns
        -------
        complex ``(B, C, H, W)`` with ``sum_c |S_c|^2 = 1``.
        """
        hits = sampled.sum(dim=1)  # (B, 1, H, W) frames that sampled each point
        k_avg = k0.sum(dim=1) / hits.clamp_min(1).to(k0.real.dtype)
        region = calibration_region(acs, hits > 0)
        coil = acs_coil_images(k_avg, region, op)
        B, C, H, W = coil.shape
        scale = coil.abs().pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + _EPS
        z = torch.view_as_real(coil / scale).permute(0, 1, 4, 2, 3).reshape(B * C, 2, H, W)
        z = z + self.sens_net(z).float()
        z = z.reshape(B, C, 2, H, W).permute(0, 1, 3, 4, 2).contiguous()
        return normalize_smaps(torch.view_as_complex(z))

    def _refine(self, i: int, x: torch.Tensor, circular: bool) -> torch.Tensor:
        """Image update of cascade ``i``: complex ``(B, T, H, W)`` -> complex ``(B, T, H, W)``."""
        B, T, H, W = x.shape
        xr = torch.view_as_real(x).permute(0, 1, 4, 2, 3)  # (B, T, 2, H, W)
        mean = xr.mean(dim=(1, 3, 4), keepdim=True)
        std = xr.std(dim=(1, 2, 3, 4), keepdim=True) + _EPS
        y = self.refine[i](((xr - mean) / std).reshape(B * T, 2, H, W), T, circular).float()
        y = y.reshape(B, T, 2, H, W) * std
        return torch.complex(y[:, :, 0], y[:, :, 1])

    def forward_all(self, sample: FrameSample, op: OperatorFactory = SenseOp,
                    smaps: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Like :meth:`forward` but returns ``{"image" (B, T, H, W), "kspace" (B, T, C, H, W), "smaps" (B, C, H, W)}``,
        ``kspace`` being the final multi-coil k-space prediction."""
        kspace = _check("adjacent", sample.adjacent, (None, None, None, None, None))
        B, T, C, H, W = kspace.shape
        if not kspace.is_complex():
            raise ValueError(f"KTNet.forward: adjacent must be complex, got {kspace.dtype}")
        mask = _check("adjacent_mask", sample.adjacent_mask, (B, T, H, W))
        acs = _check("acs", sample.acs, (B, 1, H, W))
        circ = _check("circular", sample.circular, (B,))
        if bool(circ.any()) != bool(circ.all()):
            raise ValueError("KTNet.forward: a batch mixes cine (circular) and mapping series")
        circular = bool(circ.all())
        sampled = (mask > 0)[:, :, None]  # (B, T, 1, H, W)
        kspace = kspace.to(torch.complex64)
        k0 = torch.where(sampled, kspace, torch.zeros_like(kspace))
        if smaps is None:
            smaps = self.estimate_smaps(k0, sampled, acs.bool(), op)
        elif tuple(smaps.shape) != (B, C, H, W) or not smaps.is_complex():
            raise ValueError(f"KTNet.forward: smaps must be complex {(B, C, H, W)}, got {tuple(smaps.shape)}")
        A = op(smaps[:, None], sampled)  # A = M_t F S per frame: image (B, T, H, W) -> k-space (B, T, C, H, W)
        coil = A.unmasked()
        k = k0
        for i in range(self.config.cascades):
            k = k + coil(self._refine(i, coil.H(k), circular))
            if self.hard_dc:
                k = torch.where(sampled, k0, k)
            else:
                k = k - torch.sigmoid(self.dc_logit[i]) * sampled.to(k.real.dtype) * (k - k0)
        return {"image": coil.H(k), "kspace": k, "smaps": smaps}

    def forward(self, sample: FrameSample, op: OperatorFactory = SenseOp,
                smaps: torch.Tensor | None = None) -> torch.Tensor:
        """Complex coil-combined images ``(B, T, H, W)``; see the class docstring for shapes."""
        return self.forward_all(sample, op, smaps)["image"]
