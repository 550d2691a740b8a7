"""Training data for the segmenter: fully sampled RSS images paired with ground-truth label slices.

Only fully sampled images are used for training: the segmenter is a fixed measuring instrument that
every reconstruction (zero-filled, SENSE, networks) is then measured with, so it must not have seen
any reconstruction method's artefacts.

Per-image intensity normalisation: percentiles 1 and 99 of each 2D image map to 0 and 1, clipped.
Training applies it as ``ScaleIntensityRangePercentilesd``; inference (:mod:`cardiomm.segmentation.infer`)
calls :func:`cardiomm.segmentation.intensity.normalise_image`, the same computation without MONAI (proven equal
to the MONAI transform with the same arguments, :data:`~cardiomm.segmentation.intensity.NORM_ARGS`).

Augmentation (MONAI dictionary transforms, seeded through ``Compose.set_random_state``):

- ``RandRotated`` within +-``rotate_deg``, ``RandAffined`` (scale, translation), ``RandGaussianNoised``,
  ``RandAdjustContrastd`` (gamma).
- ``RandFlipd`` on BOTH in-plane axes at once, i.e. a 180 degree rotation. A flip on one axis mirrors
  the heart, putting the RV on the wrong side of the LV: an anatomically impossible (situs-inversus)
  image. All series of this pipeline come through one reader and share one in-plane orientation, so
  the side of the RV relative to the LV is a true and useful cue for telling LV from RV when heavy
  undersampling artefacts blur the myocardial wall. Mirroring would teach the network to ignore it.
  Chirality-preserving transforms (rotations, the double flip) still give robustness to the
  orientation differences seen between centres. ``AugmentConfig.flip = "mirror"`` re-enables
  single-axis flips for data whose orientation is not consistent.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from monai.data import Dataset
from monai.transforms import (
    Compose,
    EnsureTyped,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGaussianNoised,
    RandRotated,
    ResizeWithPadOrCropd,
    ScaleIntensityRangePercentilesd,
)

from cardiomm.cohort import Subject
from cardiomm.conventions import modality
from cardiomm.io.cmrxrecon import read_kspace
from cardiomm.io.nifti import load_image
from cardiomm.recon.classical.zero_filled import zero_filled
from cardiomm.segmentation.intensity import (  # noqa: F401 - PCT_*, check_image, normalise_image re-exported
    NORM_ARGS,
    PCT_HIGH,
    PCT_LOW,
    check_image,
    normalise_image,
)
from cardiomm.segmentation.labels import validate_labels

log = logging.getLogger(__name__)

class SegPair(NamedTuple):
    """One 2D training example.

    Attributes
    ----------
    image: float32 magnitude image ``(ny, nx)`` (not yet normalised).
    label: uint8 label map ``(ny, nx)`` in our convention.
    spacing_mm: pixel size ``(dy, dx)`` in mm, in array-axis order (used for HD95 in mm).
    source: provenance, e.g. ``"P001/cine/t3/z2"``.
    """

    image: np.ndarray
    label: np.ndarray
    spacing_mm: tuple[float, float] = (1.0, 1.0)
    source: str = ""


def as_pair(p: SegPair | Sequence, index: int = 0) -> SegPair:
    """Accept a :class:`SegPair` or a plain ``(image, label)`` / ``(image, label, spacing)`` tuple."""
    if isinstance(p, SegPair):
        return p
    if len(p) not in (2, 3, 4):
        raise ValueError(f"training pair #{index}: expected (image, label[, spacing_mm[, source]]), got {len(p)} items")
    return SegPair(*p) if len(p) > 2 else SegPair(p[0], p[1], (1.0, 1.0), f"pair#{index}")


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (probabilities per image).

    Attributes
    ----------
    rotate_deg: maximal in-plane rotation, degrees.
    rotate_prob: probability of a rotation.
    scale: maximal relative zoom (0.1 = +-10 %).
    translate_frac: maximal shift as a fraction of the image size.
    affine_prob: probability of the scale/shift transform.
    flip: ``"rot180"`` (flip both axes together: chirality kept), ``"mirror"`` (single-axis flips),
        or ``"none"``.
    flip_prob: probability of the flip.
    noise_std: standard deviation of additive Gaussian noise on the [0, 1] normalised image.
    noise_prob: probability of noise.
    gamma: range of the contrast gamma.
    contrast_prob: probability of a contrast change.
    """

    rotate_deg: float = 30.0
    rotate_prob: float = 0.5
    scale: float = 0.15
    translate_frac: float = 0.1
    affine_prob: float = 0.5
    flip: str = "rot180"
    flip_prob: float = 0.3
    noise_std: float = 0.05
    noise_prob: float = 0.3
    gamma: tuple[float, float] = (0.7, 1.5)
    contrast_prob: float = 0.3

    def __post_init__(self) -> None:
        if self.flip not in ("rot180", "mirror", "none"):
            raise ValueError(f"AugmentConfig.flip must be 'rot180', 'mirror' or 'none', got {self.flip!r}")


def padded_size(shapes: Sequence[tuple[int, int]], divisor: int) -> tuple[int, int]:
    """Smallest ``(ny, nx)`` that holds every shape and is a multiple of ``divisor`` along both axes."""
    ny = max(s[0] for s in shapes)
    nx = max(s[1] for s in shapes)
    return (math.ceil(ny / divisor) * divisor, math.ceil(nx / divisor) * divisor)


def _keys() -> list[str]:
    return ["image", "label"]


def eval_transforms(spatial_size: tuple[int, int]) -> Compose:
    """Deterministic transforms: normalise, pad (or centre-crop) to ``spatial_size``, as tensors."""
    return Compose([
        ScaleIntensityRangePercentilesd("image", **NORM_ARGS),
        ResizeWithPadOrCropd(_keys(), spatial_size=spatial_size, mode="constant"),
        EnsureTyped(_keys(), data_type="tensor", track_meta=False),
    ])


def train_transforms(spatial_size: tuple[int, int], aug: AugmentConfig) -> Compose:
    """Normalisation, padding, then the random augmentation (see the module docstring for the choices)."""
    k = _keys()
    ny, nx = spatial_size
    flips: list = []
    if aug.flip == "rot180":
        flips = [RandFlipd(k, prob=aug.flip_prob, spatial_axis=(0, 1))]
    elif aug.flip == "mirror":
        flips = [RandFlipd(k, prob=aug.flip_prob, spatial_axis=0), RandFlipd(k, prob=aug.flip_prob, spatial_axis=1)]
    return Compose([
        ScaleIntensityRangePercentilesd("image", **NORM_ARGS),
        ResizeWithPadOrCropd(k, spatial_size=spatial_size, mode="constant"),
        EnsureTyped(k, data_type="tensor", track_meta=False),
        *flips,
        RandRotated(k, range_x=math.radians(aug.rotate_deg), prob=aug.rotate_prob, keep_size=True,
                    mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandAffined(k, prob=aug.affine_prob, scale_range=(aug.scale, aug.scale),
                    translate_range=(aug.translate_frac * ny, aug.translate_frac * nx),
                    mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandGaussianNoised("image", prob=aug.noise_prob, std=aug.noise_std),
        RandAdjustContrastd("image", prob=aug.contrast_prob, gamma=aug.gamma),
        EnsureTyped(k, data_type="tensor", track_meta=False),
    ])


def training_pairs(
    images: list[np.ndarray],
    labels: list[np.ndarray],
    *,
    augment: bool = True,
    aug: AugmentConfig | None = None,
    spatial_size: tuple[int, int] | None = None,
    divisor: int = 16,
    seed: int = 0,
) -> Dataset:
    """A MONAI ``Dataset`` of normalised (and optionally augmented) 2D image/label pairs.

    Parameters
    ----------
    images: float magnitude images, each ``(ny, nx)``; sizes may differ.
    labels: uint8 label maps in our convention, each the shape of its image.
    augment: apply the random augmentation (training) or only padding (validation).
    aug: augmentation strengths (default :class:`AugmentConfig`).
    spatial_size: common output size ``(ny, nx)``; default the largest input size rounded up to ``divisor``.
        Smaller images are zero-padded symmetrically, larger ones centre-cropped.
    divisor: the network's size divisor (:attr:`SegNetConfig.divisor`).
    seed: seed of the transform random state.

    Returns
    -------
    ``monai.data.Dataset`` whose items are ``{"image": float32 (1, H, W), "label": (1, H, W)}`` tensors.
    The Compose is ``dataset.transform``; reseed it with ``dataset.transform.set_random_state(seed)``.
    """
    if len(images) != len(labels):
        raise ValueError(f"training_pairs: {len(images)} images but {len(labels)} label maps")
    if not images:
        raise ValueError("training_pairs: no images given")
    items = []
    for i, (img, lab) in enumerate(zip(images, labels)):
        img_c = check_image(img, f"training image #{i}")
        lab_v = validate_labels(lab, f"training label #{i}")
        if lab_v.shape != img_c.shape:
            raise ValueError(f"training pair #{i}: image shape {img_c.shape} but label shape {lab_v.shape}")
        items.append({"image": img_c[None], "label": lab_v[None]})
    size = tuple(spatial_size) if spatial_size is not None else padded_size([x.shape for x in images], divisor)
    if size[0] % divisor or size[1] % divisor:
        raise ValueError(f"training_pairs: spatial_size {size} is not a multiple of the network divisor {divisor}")
    tf = train_transforms(size, aug or AugmentConfig()) if augment else eval_transforms(size)
    tf.set_random_state(seed)
    return Dataset(items, transform=tf)


# ---------------------------------------------------------------------------------------------
# From a cohort on disk: fully sampled k-space -> RSS images, paired with ground-truth labels
# ---------------------------------------------------------------------------------------------


def frame_indices(nt: int, frames_per_series: int | None) -> np.ndarray:
    """Evenly spaced frame indices (always including frame 0), or all frames when ``None``."""
    if frames_per_series is None or frames_per_series >= nt:
        return np.arange(nt)
    if frames_per_series < 1:
        raise ValueError(f"frames_per_series must be >= 1 or None, got {frames_per_series}")
    return np.unique(np.round(np.linspace(0, nt - 1, frames_per_series)).astype(int))


def series_pairs(
    images: np.ndarray, labels: np.ndarray, kind: str, spacing_mm: tuple[float, float], name: str,
    frames_per_series: int | None = None,
) -> list[SegPair]:
    """Pair every 2D image of a series with its label slice.

    Parameters
    ----------
    images: float32 ``(nt, nz, ny, nx)``.
    labels: uint8 ``(nt_l, nz, ny, nx)``: ``nt_l == nt`` (one map per frame) or, for ``kind == "mapping"``,
        ``nt_l == 1`` (one map per slice shared by all weighted images).
    kind: ``"cine"`` or ``"mapping"``.
    spacing_mm: ``(dy, dx)``.
    name: provenance prefix, e.g. ``"P001/cine"``.
    frames_per_series: keep this many evenly spaced frames (``None``: all).
    """
    labels = validate_labels(labels, f"{name} labels")
    if images.ndim != 4 or labels.ndim != 4:
        raise ValueError(f"{name}: images {images.shape} and labels {labels.shape} must both be (nt, nz, ny, nx)")
    if images.shape[1:] != labels.shape[1:]:
        raise ValueError(f"{name}: image (nz, ny, nx) {images.shape[1:]} != label (nz, ny, nx) {labels.shape[1:]}")
    nt, nt_l = images.shape[0], labels.shape[0]
    if nt_l != nt and not (nt_l == 1 and kind == "mapping"):
        raise ValueError(
            f"{name}: {nt_l} label frames for {nt} images; a {kind} series needs one label frame per image"
            + (" or a single shared map" if kind == "mapping" else "")
        )
    pairs = []
    for t in frame_indices(nt, frames_per_series):
        for z in range(images.shape[1]):
            lab = labels[t if nt_l == nt else 0, z]
            img = images[t, z]
            if not img.any():
                log.warning("%s/t%d/z%d: all-zero image skipped", name, t, z)
                continue
            pairs.append(SegPair(img, lab, spacing_mm, f"{name}/t{t}/z{z}"))
    return pairs


def build_training_pairs(
    subjects: Sequence[Subject], modalities: Sequence[str], frames_per_series: int | None = None
) -> list[SegPair]:
    """Fully sampled RSS image slices with their ground-truth label slices, for cohort subjects.

    Parameters
    ----------
    subjects: cohort subjects (:func:`cardiomm.cohort.load_cohort`), e.g. the ``train`` split.
    modalities: modality names (``"cine"``, ``"t1map"``, ...). A subject without a modality's k-space
        file is skipped for that modality (logged); one whose k-space exists but whose label file
        (``Subject.label_path``) does not raises ``FileNotFoundError``.
    frames_per_series: keep this many evenly spaced frames / weighted images per series (``None``: all).

    Returns
    -------
    list of :class:`SegPair`: image float32 ``(ny, nx)``, label uint8 ``(ny, nx)``, spacing ``(dy, dx)`` mm
    from the label NIfTI, source ``"<subject>/<modality>/t<t>/z<z>"``.
    """
    pairs: list[SegPair] = []
    for mod in modalities:
        kind = modality(mod).kind
        for s in subjects:
            kpath, lpath = s.kspace_path(mod), s.label_path(mod)
            if not kpath.exists():
                log.info("%s: no %s k-space at %s, skipped", s.id, mod, kpath)
                continue
            if not lpath.exists():
                raise FileNotFoundError(f"{lpath}: ground-truth labels missing for {s.id} {mod} (k-space {kpath})")
            images = zero_filled(read_kspace(kpath))  # the reference image, made as the reference rule makes it
            labels, geom = load_image(lpath)
            try:
                pairs += series_pairs(images, labels, kind, (geom.dy, geom.dx), f"{s.id}/{mod}", frames_per_series)
            except ValueError as err:
                raise ValueError(f"{kpath} with {lpath}: {err}") from None
    if not pairs:
        raise ValueError(f"build_training_pairs: no image/label pairs for {len(subjects)} subjects and {modalities}")
    return pairs
