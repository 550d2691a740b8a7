"""The one place that turns ``config["segmentation"]`` into a segmenter.

Three kinds (``segmentation.kind``):

``builtin``
    the shipped MONAI U-Net checkpoint (``segmentation.path``, default ``models.segmentation``):
    :mod:`cardiomm.segmentation.infer`, unchanged.
``monai_bundle``
    a MONAI bundle folder (``configs/inference.json``, ``configs/metadata.json``, ``models/model.pt``),
    run with its own network definition, transforms and inferer: :mod:`cardiomm.segmentation.bundle`.
``nnunetv2``
    an nnU-Net v2 trained-model folder (``dataset.json``, ``plans.json``, ``fold_X/checkpoint_final.pth``),
    run with nnU-Net's own ``nnUNetPredictor``: :mod:`cardiomm.segmentation.nnunet`.

Every segmenter has one method, ``segment(images, geom, kind, source) -> labels``: images
``(nt, nz, ny, nx)`` float magnitude, labels ``uint8`` in our convention, ``(nt, nz, ny, nx)`` for cine and
``(1, nz, ny, nx)`` for mapping series (softmax probabilities averaged over the weighted images).

Foreign models go through :class:`ProbabilitySegmenter`: the model gives class probabilities of a
``(nz, ny, nx)`` volume in its own label values, already resampled back to our grid; this class does
the argmax, the model's one declared label mapping (:mod:`cardiomm.segmentation.labels`) and the same
largest-component cleanup as the built-in segmenter.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardiomm.io.nifti import Geometry
from cardiomm.segmentation.labels import apply_mapping, mapping_from_convention

KINDS = ("builtin", "monai_bundle", "nnunetv2")
LABEL_CHOICES = ("auto", "ours", "acdc", "mnms", "cmrxrecon2023", "monai_ventricular_3label")


class SegmenterConfigError(ValueError):
    """``config["segmentation"]`` names a kind, folder or option that cannot be used."""


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


class Segmenter(abc.ABC):
    """A segmenter of short-axis series."""

    name: str

    @abc.abstractmethod
    def segment(self, images: np.ndarray, geom: Geometry, kind: str, source: str = "images") -> np.ndarray:
        """Labels ``uint8`` in our convention: ``(nt, nz, ny, nx)`` (cine) or ``(1, nz, ny, nx)`` (mapping)."""


class BuiltinSegmenter(Segmenter):
    """The shipped checkpoint through :mod:`cardiomm.segmentation.infer` (the default run, unchanged)."""

    def __init__(self, path: str) -> None:
        from cardiomm.segmentation.train import load_segmenter

        self.name = f"builtin:{path}"
        self.model = load_segmenter(path)

    def segment(self, images: np.ndarray, geom: Geometry, kind: str, source: str = "images") -> np.ndarray:
        from cardiomm.segmentation.infer import segment_mapping_series, segment_series

        fn = segment_mapping_series if kind == "mapping" else segment_series
        return fn(self.model, images, source=source)


class ProbabilitySegmenter(Segmenter):
    """A foreign model that returns class probabilities of one volume in its own label values."""

    lut: np.ndarray  # model value -> our value

    @abc.abstractmethod
    def volume_probabilities(self, volume: np.ndarray, geom: Geometry, source: str) -> np.ndarray:
        """Class probabilities ``(C, nz, ny, nx)`` float32 of a volume ``(nz, ny, nx)``, on its own grid."""

    def _labels(self, prob: np.ndarray, source: str) -> np.ndarray:
        return apply_mapping(prob.argmax(0), self.lut, source).astype(np.uint8)

    def segment(self, images: np.ndarray, geom: Geometry, kind: str, source: str = "images") -> np.ndarray:
        from cardiomm.segmentation.infer import check_series, keep_largest_components

        imgs = check_series(images, source)
        if kind == "mapping":
            prob = sum(self.volume_probabilities(v, geom, f"{source}[{t}]") for t, v in enumerate(imgs))
            labels = self._labels(prob / len(imgs), source)[None]
        else:
            labels = np.stack([self._labels(self.volume_probabilities(v, geom, f"{source}[{t}]"), source)
                               for t, v in enumerate(imgs)])
        return keep_largest_components(labels)


def declared_mapping(labels: str, metadata_names: dict[int, str] | None, source: str) -> np.ndarray:
    """The model's one label mapping: the convention named in the config, else its own metadata's names."""
    from cardiomm.segmentation.labels import mapping_from_names

    if labels != "auto":
        return mapping_from_convention(labels)
    if not metadata_names:
        raise SegmenterConfigError(f"{source}: the model declares no label names; set segmentation.labels to one "
                                   f"of {LABEL_CHOICES[1:]}")
    return mapping_from_names(metadata_names, source)


def load_segmenter_from_config(config: dict) -> Segmenter:
    """Build the segmenter ``config["segmentation"]`` asks for (see the module docstring)."""
    cfg = SegmenterConfig.from_config(config)
    if cfg.kind == "builtin":
        return BuiltinSegmenter(cfg.path)
    if not Path(cfg.path).is_dir():
        raise SegmenterConfigError(f"config segmentation.path = {cfg.path!r}: not a folder (a {cfg.kind} model is a "
                                   "folder)")
    if cfg.kind == "monai_bundle":
        from cardiomm.segmentation.bundle import BundleSegmenter

        return BundleSegmenter(cfg.path, labels=cfg.labels, spacing_mm=cfg.spacing_mm)
    from cardiomm.segmentation.nnunet import NnUNetSegmenter

    return NnUNetSegmenter(cfg.path, labels=cfg.labels, folds=cfg.folds, checkpoint=cfg.checkpoint)
