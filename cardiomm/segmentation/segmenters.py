"""The one place that turns ``config["segmentation"]`` into a segmenter.

Three kinds (``segmentation.kind``):

``builtin``
    the shipped MONAI U-Net checkpoint (``segmentation.path``, default ``models.segmentation``):
    :mod:`cardiomm.segmentation.infer`. On CPU a workflow's segment jobs run the run's TorchScript export of that
    checkpoint (rule ``export_segmenter``, :mod:`cardiomm.segmentation.compiled`; identical logits, no MONAI import).
``monai_bundle``
    a MONAI bundle folder (``configs/inference.json``, ``configs/metadata.json``, ``models/model.pt``),
    run with its own network definition, transforms and inferer: :mod:`cardiomm.segmentation.bundle`.
``nnunetv2``
    an nnU-Net v2 trained-model folder (``dataset.json``, ``plans.json``, ``fold_X/checkpoint_final.pth``),
    run with nnU-Net's own ``nnUNetPredictor``: :mod:`cardiomm.segmentation.nnunet`.

The interface every segmenter implements and the base of the foreign ones live in
:mod:`cardiomm.segmentation.base`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardiomm.io.nifti import Geometry
from cardiomm.segmentation.base import LABEL_CHOICES, Segmenter, SegmenterConfigError

__all__ = ["KINDS", "LABEL_CHOICES", "BuiltinSegmenter", "Segmenter", "SegmenterConfig", "SegmenterConfigError",
           "load_segmenter_from_config"]

KINDS = ("builtin", "monai_bundle", "nnunetv2")


@dataclass(frozen=True)
class SegmenterConfig:
    """``config["segmentation"]``; defaults as in ``cardiomm/schema/config.schema.json``.

    Attributes
    ----------
    kind: one of :data:`KINDS`.
    path: checkpoint (builtin) or model folder; ``None`` for builtin = ``models.segmentation``.
    labels: ``"auto"`` (the model's own metadata declares its labels) or a convention name of
        :data:`cardiomm.segmentation.labels.CONVENTIONS`.
    spacing_mm: ``monai_bundle`` only: in-plane pixel size (mm) to resample to before the bundle
        (``None``: native pixels, as ``ventricular_short_axis_3label`` was trained: crop/pad only).
    folds: ``nnunetv2`` only: folds to ensemble (``None``: every ``fold_*`` folder with a checkpoint).
    checkpoint: ``nnunetv2`` only: checkpoint file name inside each fold folder.
    """

    kind: str = "builtin"
    path: str | None = None
    labels: str = "auto"
    spacing_mm: float | None = None
    folds: tuple[int | str, ...] | None = (0,)
    checkpoint: str = "checkpoint_final.pth"

    @classmethod
    def from_config(cls, config: dict) -> SegmenterConfig:
        """Read ``config["segmentation"]`` (absent = builtin); unknown kinds/labels raise naming the key."""
        seg = dict(config.get("segmentation") or {})
        kind = seg.get("kind", "builtin")
        if kind not in KINDS:
            raise SegmenterConfigError(f"config segmentation.kind = {kind!r}; expected one of {KINDS}")
        labels = seg.get("labels", "auto")
        if labels not in LABEL_CHOICES:
            raise SegmenterConfigError(f"config segmentation.labels = {labels!r}; expected one of {LABEL_CHOICES}")
        path = seg.get("path") or (config.get("models", {}).get("segmentation") if kind == "builtin" else None)
        if not path:
            raise SegmenterConfigError(f"config segmentation.path is required for segmentation.kind = {kind!r}")
        folds = seg.get("folds", (0,))
        return cls(kind=kind, path=str(path), labels=labels, spacing_mm=seg.get("spacing_mm"),
                   folds=None if folds is None else tuple(folds),
                   checkpoint=seg.get("checkpoint", "checkpoint_final.pth"))


class BuiltinSegmenter(Segmenter):
    """The shipped checkpoint through :mod:`cardiomm.segmentation.infer` (the default run).

    ``exported``: the checkpoint's TorchScript export (:func:`cardiomm.segmentation.compiled.export_segmenter`),
    used on CPU instead of building the network with MONAI; it must come from ``path`` (SHA-256 checked). On CUDA
    the checkpoint itself is loaded (bf16 autocast applies to the eager network).
    """

    def __init__(self, path: str, exported: str | None = None) -> None:
        from cardiomm.device import get_device

        self.name = f"builtin:{path}"
        if exported is not None and get_device().type == "cpu":
            from cardiomm.segmentation.compiled import load_exported

            self.model = load_exported(exported, checkpoint=path)
            self.name += f" (TorchScript export {exported})"
        else:
            from cardiomm.segmentation.training_task import load_segmenter

            self.model = load_segmenter(path)

    def segment(self, images: np.ndarray, geom: Geometry, kind: str, source: str = "images") -> np.ndarray:
        from cardiomm.segmentation.infer import segment_mapping_series, segment_series

        fn = segment_mapping_series if kind == "mapping" else segment_series
        return fn(self.model, images, source=source)


def load_segmenter_from_config(config: dict, exported: str | None = None) -> Segmenter:
    """Build the segmenter ``config["segmentation"]`` asks for (see the module docstring).

    ``exported``: for ``kind: builtin``, the run's TorchScript export of the checkpoint (ignored by other kinds).
    """
    cfg = SegmenterConfig.from_config(config)
    if cfg.kind == "builtin":
        return BuiltinSegmenter(cfg.path, exported=exported)
    if not Path(cfg.path).is_dir():
        raise SegmenterConfigError(f"config segmentation.path = {cfg.path!r}: not a folder (a {cfg.kind} model is a "
                                   "folder)")
    if cfg.kind == "monai_bundle":
        from cardiomm.segmentation.bundle import BundleSegmenter

        return BundleSegmenter(cfg.path, labels=cfg.labels, spacing_mm=cfg.spacing_mm)
    from cardiomm.segmentation.nnunet import NnUNetSegmenter

    return NnUNetSegmenter(cfg.path, labels=cfg.labels, folds=cfg.folds, checkpoint=cfg.checkpoint)
