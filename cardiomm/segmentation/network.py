"""The segmentation network: a MONAI 2D U-Net, 1 input channel (normalised magnitude), 4 classes.

Two named sizes:

``small`` (default)
    channels (16, 32, 64, 128, 256), 4 stride-2 levels, 1 residual unit per block: ~0.84 M parameters,
    a ~3.4 MB checkpoint; CPU-trainable in minutes on 112 x 128 images.
``paper``
    channels (32, 64, 128, 256, 512), 4 stride-2 levels, 2 residual units: ~6.5 M parameters (~26 MB);
    meant for GPU training on real CMRxRecon data.

Instance normalisation (MONAI's default) is kept on purpose: the output for one image then does not
depend on the other images in its batch, so inference is reproducible for any batch size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from monai.networks.nets import UNet

from cardiomm.conventions import N_CLASSES

ARCH = "monai.networks.nets.UNet/2d"
IN_CHANNELS = 1


@dataclass(frozen=True)
class SegNetConfig:
    """Hyper-parameters of the MONAI 2D U-Net.

    Attributes
    ----------
    channels: feature channels per level, finest first.
    strides: downsampling stride between levels (``len(channels) - 1`` entries).
    num_res_units: residual units per block (0 = plain convolutions).
    dropout: dropout probability.
    norm: MONAI norm name (``"INSTANCE"`` or ``"BATCH"``).
    """

    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    strides: tuple[int, ...] = (2, 2, 2, 2)
    num_res_units: int = 1
    dropout: float = 0.0
    norm: str = "INSTANCE"

    def __post_init__(self) -> None:
        if len(self.strides) != len(self.channels) - 1:
            raise ValueError(
                f"SegNetConfig: {len(self.channels)} channel levels need {len(self.channels) - 1} strides, "
                f"got {len(self.strides)}"
            )

    @property
    def divisor(self) -> int:
        """Image height and width must be multiples of this (product of the strides)."""
        return math.prod(self.strides)


SIZES: dict[str, SegNetConfig] = {
    "small": SegNetConfig(),
    "paper": SegNetConfig(channels=(32, 64, 128, 256, 512), strides=(2, 2, 2, 2), num_res_units=2, dropout=0.1),
}


def net_config(size: str | SegNetConfig | dict) -> SegNetConfig:
    """Resolve a size name, a config, or a config dict (as stored in a checkpoint) to a :class:`SegNetConfig`."""
    if isinstance(size, SegNetConfig):
        return size
    if isinstance(size, dict):
        d = dict(size)
        d["channels"] = tuple(d["channels"])
        d["strides"] = tuple(d["strides"])
        return SegNetConfig(**d)
    try:
        return SIZES[size]
    except KeyError:
        raise KeyError(f"unknown segmentation network size {size!r}; known: {sorted(SIZES)}") from None


def build_segmenter(size: str | SegNetConfig | dict = "small") -> torch.nn.Module:
    """Build the 2D U-Net.

    Parameters
    ----------
    size: ``"small"``, ``"paper"``, or an explicit :class:`SegNetConfig` (or its ``asdict``).

    Returns
    -------
    ``torch.nn.Module`` mapping ``(B, 1, H, W)`` float images to ``(B, 4, H, W)`` logits, with
    ``H`` and ``W`` multiples of :attr:`SegNetConfig.divisor`. The module carries its configuration
    as ``module.seg_config`` (a :class:`SegNetConfig`).
    """
    cfg = net_config(size)
    net = UNet(
        spatial_dims=2,
        in_channels=IN_CHANNELS,
        out_channels=N_CLASSES,
        channels=cfg.channels,
        strides=cfg.strides,
        num_res_units=cfg.num_res_units,
        dropout=cfg.dropout,
        norm=cfg.norm,
    )
    net.seg_config = cfg
    return net


def config_of(model: torch.nn.Module) -> SegNetConfig:
    """The :class:`SegNetConfig` a model was built with (raises if it was not built by :func:`build_segmenter`)."""
    cfg = getattr(model, "seg_config", None)
    if not isinstance(cfg, SegNetConfig):
        raise TypeError("model was not built by cardiomm.segmentation.network.build_segmenter (no seg_config)")
    return cfg


def config_dict(model: torch.nn.Module) -> dict:
    """Plain-dict form of the model's configuration (what a checkpoint stores)."""
    return asdict(config_of(model))


def n_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
