"""E2E-VarNet peer (Sriram et al. 2020) built from MONAI's reconstruction networks, behind CardioMM's interface.

MONAI 1.6 API used (``monai.apps.reconstruction.networks``):

* ``VariationalNetworkModel(coil_sensitivity_model, refinement_model, num_cascades, spatial_dims=2)`` holding
  ``.coil_sensitivity_model`` and ``.cascades`` (a ``ModuleList`` of ``VarNetBlock``);
* ``VarNetBlock.forward(current_kspace, ref_kspace, mask, sens_maps)`` on real views ``(B, C, H, W, 2)`` with a
  **bool** mask broadcastable to that shape; it computes ``k - w M (k - k0) - F E(UNet(R F^-1 k))``;
* ``CoilSensitivityModel(spatial_dims, features)`` whose ``.conv_net`` is a ``ComplexUnet`` (BasicUNet with six
  feature counts, inputs padded to a multiple of 16).

Two adaptations, both because MONAI's ``VariationalNetworkModel.forward`` assumes a 1D line mask along the last
spatial axis shared by the whole batch (``CoilSensitivityModel.get_fully_sampled_region`` walks a
``(1, 1, 1, W, 1)`` mask):

1. the ACS region comes from the caller (``acs``), so 2D ACS squares (ktRadial), phase encoding along H and
   per-sample masks in one batch all work; the ACS coil images go through MONAI's sensitivity ``conv_net``
   and are normalised with :func:`cardiomm.physics.coils.normalize_smaps`;
2. the output is the complex coil-combined image ``S^H F^-1 k`` (like CardioMM) instead of MONAI's RSS
   magnitude, so both networks share the loss, the inference code and the checkpoint format.

The physics is injected: each cascade applies its block's learned pieces (``.model``, the refinement
``ComplexUnet``, and ``.dc_weight``) with the data-consistency operator ``op(maps, mask)``
(:class:`cardiomm.physics.sense.SenseOp` by default) instead of MONAI's own FFT and coil products; the
update is ``VarNetBlock.forward``'s, and ``tests/test_varnet.py`` checks the two agree. The parameter names
(hence the shipped checkpoint) are MONAI's. MONAI's centred orthonormal FFT is the same transform as
:func:`cardiomm.physics.fft.fft2c` (also checked there).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from monai.apps.reconstruction.networks.nets.coil_sensitivity_model import CoilSensitivityModel
from monai.apps.reconstruction.networks.nets.complex_unet import ComplexUnet
from monai.apps.reconstruction.networks.nets.utils import (
    reshape_batch_channel_to_channel_dim,
    reshape_channel_to_batch_dim,
)
from monai.apps.reconstruction.networks.nets.varnet import VariationalNetworkModel
from torch import nn

from cardiomm.physics.coilmaps import acs_coil_images, calibration_region
from cardiomm.physics.coils import normalize_smaps
from cardiomm.physics.sense import OperatorFactory, SenseOp
from cardiomm.recon.learned.networks.blocks import count_parameters
from cardiomm.recon.learned.sample import FrameSample


def unet_features(base: int) -> tuple[int, int, int, int, int, int]:
    """MONAI BasicUNet feature tuple for a base width: ``(f, f, 2f, 4f, 8f, f)`` (fastMRI's doubling)."""
    return (base, base, 2 * base, 4 * base, 8 * base, base)


@dataclass
class VarNetConfig:
    """Hyper-parameters of :class:`VarNet`.

    Attributes
    ----------
    cascades: number of VarNet blocks.
    features: base width of each refinement ComplexUnet (see :func:`unet_features`).
    sens_features: base width of the sensitivity ComplexUnet.
    temporal_context: always 0 (kept so that data/inference code can ask any model the same question).
    """

    cascades: int = 5
    features: int = 13  # ~1.7 M parameters: matched to the default CardioMM (varnet_config_matching)
    sens_features: int = 4
    temporal_context: int = 0

    def __post_init__(self) -> None:
        for name in ("cascades", "features", "sens_features"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"VarNetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.temporal_context != 0:
            raise ValueError("VarNetConfig.temporal_context must be 0: E2E-VarNet has no temporal input")

    def to_dict(self) -> dict:
        return asdict(self)


#: the fastMRI E2E-VarNet setting (12 cascades, 18 base channels, 8 sensitivity channels)
PAPER_VARNET = VarNetConfig(cascades=12, features=18, sens_features=8)


class VarNet(nn.Module):
    """MONAI E2E-VarNet with CardioMM's call signature.

    ``forward(sample, op=SenseOp) -> (B, H, W) complex``: reads the sample's k-space, mask and ACS only.
    """

    def __init__(self, cfg: VarNetConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or VarNetConfig()
        self.config = cfg
        sens = CoilSensitivityModel(spatial_dims=2, features=unet_features(cfg.sens_features))
        refine = ComplexUnet(spatial_dims=2, features=unet_features(cfg.features))
        self.net = VariationalNetworkModel(sens, refine, num_cascades=cfg.cascades, spatial_dims=2)

    def estimate_smaps(self, k0: torch.Tensor, acs: torch.Tensor, op: OperatorFactory = SenseOp) -> torch.Tensor:
        """Sensitivity maps (complex ``(B, C, H, W)``, unit RSS) from the ACS region via MONAI's ComplexUnet; the ACS
        coil images are ``op(None, acs).H(k0)``."""
        x = torch.view_as_real(acs_coil_images(k0, acs, op))  # (B, C, H, W, 2)
        x, b = reshape_channel_to_batch_dim(x)  # (B*C, 1, H, W, 2)
        x = self.net.coil_sensitivity_model.conv_net(x).float()
        x = reshape_batch_channel_to_channel_dim(x, b).contiguous()
        return normalize_smaps(torch.view_as_complex(x))

    def forward(self, sample: FrameSample, op: OperatorFactory = SenseOp) -> torch.Tensor:
        """Complex coil-combined image ``(B, H, W)`` of a batched sample.

        Parameters
        ----------
        sample: :class:`~cardiomm.recon.learned.sample.FrameSample` whose ``kspace`` (complex ``(B, C, H, W)``),
            ``mask`` (float ``(B, 1, H, W)``) and ``acs`` (bool ``(B, 1, H, W)``) are read; E2E-VarNet has no prompt or
            temporal input, so the sample's other fields are not read.
        op: the data-consistency operator's constructor ``op(maps, mask)`` (default
            :class:`cardiomm.physics.sense.SenseOp`).
        """
        kspace, mask, acs = sample.kspace, sample.mask, sample.acs
        if kspace.ndim != 4 or not kspace.is_complex():
            raise ValueError(f"VarNet.forward: kspace must be complex (B, C, H, W), got {kspace.dtype} "
                             f"{tuple(kspace.shape)}")
        B, C, H, W = kspace.shape
        for name, t in (("mask", mask), ("acs", acs)):
            if tuple(t.shape) != (B, 1, H, W):
                raise ValueError(f"VarNet.forward: {name} must have shape {(B, 1, H, W)}, got {tuple(t.shape)}")
        sampled = mask > 0
        k0 = torch.where(sampled, kspace.to(torch.complex64), torch.zeros((), dtype=torch.complex64,
                                                                          device=kspace.device))
        smaps = self.estimate_smaps(k0, calibration_region(acs, sampled), op)
        A = op(smaps, sampled)  # the data-consistency operator A = M F S
        coil = A.unmasked()  # F S
        k = k0
        # each MONAI VarNetBlock's learned pieces (refinement U-Net, DC weight), applied with the injected operator:
        # k <- k - w M (k - k0) - F S UNet(S^H F^-1 k), the block's own update
        for blk in self.net.cascades:
            dx = blk.model(torch.view_as_real(coil.H(k)).unsqueeze(1)).float()  # (B, 1, H, W, 2)
            dc = torch.where(A.mask, k - k0, torch.zeros((), dtype=k.dtype, device=k.device)) * blk.dc_weight
            k = k - dc - coil(torch.view_as_complex(dx.squeeze(1).contiguous()))
        return coil.H(k)


def varnet_config_matching(n_params: int, cascades: int = 5, sens_features: int = 4) -> VarNetConfig:
    """The VarNet config whose parameter count is closest to ``n_params`` (searching the base width).

    Parameters
    ----------
    n_params: target number of trainable parameters (e.g. ``count_parameters(CardioMM())``).
    cascades, sens_features: kept fixed.
    """
    best, best_err = None, math.inf
    for f in range(2, 65):
        cfg = VarNetConfig(cascades=cascades, features=f, sens_features=sens_features)
        err = abs(count_parameters(VarNet(cfg)) - n_params)
        if err < best_err:
            best, best_err = cfg, err
        elif best is not None:  # parameter count grows monotonically with f
            break
    assert best is not None
    return best
