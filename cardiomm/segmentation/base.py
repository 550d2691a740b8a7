"""What every segmenter is: the :class:`Segmenter` interface, the base of foreign models
(:class:`ProbabilitySegmenter`), their one declared label mapping and the configuration error.

The implementations (:mod:`cardiomm.segmentation.bundle`, :mod:`cardiomm.segmentation.nnunet`) import this module;
the dispatcher :mod:`cardiomm.segmentation.segmenters` imports them, so the imports run one way.

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

import numpy as np

from cardiomm.io.nifti import Geometry
from cardiomm.segmentation.labels import apply_mapping, mapping_from_convention

LABEL_CHOICES = ("auto", "ours", "acdc", "mnms", "cmrxrecon2023", "monai_ventricular_3label")


class SegmenterConfigError(ValueError):
    """``config["segmentation"]`` names a kind, folder or option that cannot be used."""


class Segmenter(abc.ABC):
    """A segmenter of short-axis series."""

    name: str

    @abc.abstractmethod
    def segment(self, images: np.ndarray, geom: Geometry, kind: str, source: str = "images") -> np.ndarray:
        """Labels ``uint8`` in our convention: ``(nt, nz, ny, nx)`` (cine) or ``(1, nz, ny, nx)`` (mapping)."""


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
