"""Segment with a MONAI bundle folder (e.g. model-zoo ``ventricular_short_axis_3label``), using the bundle itself.

A bundle folder holds ``configs/metadata.json``, ``configs/inference.json`` (or ``.yaml``) and
``models/model.pt``. Everything model-specific comes from the bundle through ``monai.bundle.ConfigParser``:

- the network: its ``network_def``, moved to our device, weights from its ``ckpt_path``
  (default ``models/model.pt``; a plain state dict or ``{"model": state_dict}`` as its
  ``CheckpointLoader`` saves);
- the input pipeline: its ``preprocessing`` (``LoadImaged`` ... ``ScaleIntensityd`` for
  ``ventricular_short_axis_3label``: min-max over the volume), applied to a temporary NIfTI of the
  frame that holds exactly what our own NIfTI files hold (``(x, y, z)``, affine ``diag(dx, dy, spacing)``);
- the inference: its ``inferer`` (``SliceInferer`` with ``roi_size`` 256x256 for
  ``ventricular_short_axis_3label``: every slice is zero-padded to 256x256, or tiled where larger, and
  cropped back, as the bundle was trained on 256x256 crops/pads of native-resolution images);
- the output pipeline: its ``postprocessing`` up to (not including) its discretisation and saving
  (``Activationsd`` softmax, ``Invertd``), so that probabilities can be averaged over a mapping
  series' weighted images;
- the labels: its ``metadata.json`` ``network_data_format.outputs.<key>.channel_def`` names, unless
  ``segmentation.labels`` names a convention.

Optional geometry: ``spacing_mm`` resamples each slice in-plane to that pixel size (bilinear) before
the bundle and its probabilities back (bilinear) to our grid; ``None`` keeps native pixels.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

from cardiomm.device import get_device
from cardiomm.io.nifti import Geometry
from cardiomm.segmentation.base import ProbabilitySegmenter, SegmenterConfigError, declared_mapping


class BundleError(SegmenterConfigError):
    """A bundle folder lacks a file or its configs/weights do not fit together."""


def _config_file(root: Path, stem: str) -> Path:
    for ext in (".json", ".yaml", ".yml"):
        f = root / "configs" / f"{stem}{ext}"
        if f.is_file():
            return f
    raise BundleError(f"{root}: bundle has no configs/{stem}.json (or .yaml); is this a MONAI bundle folder?")


def channel_names(metadata: dict, source: str) -> dict[int, str] | None:
    """Output value -> structure name from a bundle's ``network_data_format.outputs.*.channel_def``."""
    outputs = (metadata.get("network_data_format") or {}).get("outputs") or {}
    for out in outputs.values():
        cdef = out.get("channel_def")
        if cdef:
            try:
                return {int(k): str(v) for k, v in cdef.items()}
            except ValueError:
                raise BundleError(f"{source}: channel_def keys must be integers, got {list(cdef)}") from None
    return None


def _without(compose, names: tuple[str, ...]):
    """A copy of a MONAI ``Compose`` without the transforms whose class name is in ``names``."""
    from monai.transforms import Compose

    return Compose([t for t in compose.transforms if type(t).__name__ not in names])


def resize_inplane(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(N, C, ny, nx)`` to ``(N, C, *shape)`` (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    shrink = shape[0] < x.shape[-2] or shape[1] < x.shape[-1]
    return F.interpolate(x, size=shape, mode="bilinear", align_corners=False, antialias=shrink)


class BundleSegmenter(ProbabilitySegmenter):
    """A MONAI bundle folder run with its own configs (see the module docstring)."""

    def __init__(self, root: str | Path, labels: str = "auto", spacing_mm: float | None = None) -> None:
        from monai.bundle import ConfigParser

        self.root = Path(root)
        self.name = f"monai_bundle:{self.root}"
        if spacing_mm is not None and not spacing_mm > 0:
            raise BundleError(f"config segmentation.spacing_mm must be > 0, got {spacing_mm}")
        self.spacing_mm = spacing_mm
        meta_file, infer_file = _config_file(self.root, "metadata"), _config_file(self.root, "inference")
        self.device = get_device()
        parser = ConfigParser()
        try:
            parser.read_meta(str(meta_file))
            parser.read_config(str(infer_file))
        except (ValueError, OSError) as err:
            raise BundleError(f"{infer_file}: cannot read the bundle config ({err})") from None
        parser["bundle_root"] = str(self.root)
        parser["device"] = self.device
        self.parser = parser
        for key in ("network_def", "preprocessing", "inferer", "postprocessing"):
            if key not in parser:
                raise BundleError(f"{infer_file}: no {key!r} entry; cannot run this bundle")
        self.network = self._load_network(parser, infer_file)
        self.preprocessing = parser.get_parsed_content("preprocessing")
        self.inferer = parser.get_parsed_content("inferer")
        self.postprocessing = _without(parser.get_parsed_content("postprocessing"),
                                       ("SaveImaged", "SaveImage", "AsDiscreted", "AsDiscrete"))
        self.lut = declared_mapping(labels, channel_names(parser.get("_meta_", {}), str(meta_file)), str(meta_file))

    def _load_network(self, parser, infer_file: Path) -> torch.nn.Module:
        network = parser.get_parsed_content("network_def")
        ckpt = Path(parser.get_parsed_content("ckpt_path")) if "ckpt_path" in parser else \
            self.root / "models" / "model.pt"
        if not ckpt.is_file():
            raise BundleError(f"{ckpt}: the bundle's weights are missing (download the bundle with its weights)")
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise BundleError(f"{ckpt}: weights do not fit the network_def of {infer_file} ({err})") from None
        return network.to(self.device).eval()

    def volume_probabilities(self, volume: np.ndarray, geom: Geometry, source: str) -> np.ndarray:
        """Class probabilities ``(C, nz, ny, nx)`` of one frame ``(nz, ny, nx)``, via the bundle's pipeline."""
        nz, ny, nx = volume.shape
        vol, dx, dy = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[:, None], geom.dx, geom.dy
        if self.spacing_mm is not None:
            shape = (max(1, round(ny * dy / self.spacing_mm)), max(1, round(nx * dx / self.spacing_mm)))
            vol, dx, dy = resize_inplane(vol, shape), self.spacing_mm, self.spacing_mm
        xyz = vol[:, 0].numpy().transpose(2, 1, 0)  # (x, y, z): what LoadImaged reads from our NIfTI files
        with tempfile.TemporaryDirectory(prefix="cardiomm_bundle_") as tmp:
            f = Path(tmp) / "frame.nii.gz"
            nib.save(nib.Nifti1Image(xyz, np.diag([dx, dy, geom.spacing, 1.0])), str(f))
            data = self.preprocessing({"image": str(f)})
            x = data["image"]
            # a plain tensor into the network: MetaTensor's per-op bookkeeping costs ~100x the tiny convolutions
            x = x.as_tensor() if hasattr(x, "as_tensor") else torch.as_tensor(x)
            with torch.inference_mode():
                pred = self.inferer(x[None].to(self.device), self.network)
            data["pred"] = pred[0]
            data = self.postprocessing(data)
        prob = torch.as_tensor(data["pred"]).float().cpu()  # (C, x, y, z)
        if prob.ndim != 4 or prob.shape[1:] != xyz.shape:
            raise BundleError(f"{self.root}: bundle output for {source} has shape {tuple(prob.shape)}; expected "
                              f"(C, {', '.join(map(str, xyz.shape))})")
        prob = prob.permute(3, 0, 2, 1)  # (z, C, y, x)
        prob = resize_inplane(prob, (ny, nx))
        return prob.permute(1, 0, 2, 3).numpy()

