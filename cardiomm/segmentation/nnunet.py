"""Segment with an nnU-Net v2 trained-model folder, through nnU-Net's own ``nnUNetPredictor``.

A model folder is what ``nnUNetv2_train`` leaves in ``nnUNet_results/<Dataset>/<Trainer>__<Plans>__<conf>/``:
``dataset.json``, ``plans.json`` and ``fold_<k>/checkpoint_final.pth``. nnU-Net itself does everything
model-specific:

- network: rebuilt by the checkpoint's trainer class from ``plans.json`` (``initialize_from_trained_model_folder``),
  weights of every requested fold (ensembled);
- geometry: its preprocessing crops to the non-zero region and resamples to the configuration's
  ``spacing`` (2D configurations keep the slice spacing), and ``predict_single_npy_array`` resamples the
  probabilities back to the input grid;
- intensities: the configuration's ``normalization_schemes`` (``ZScoreNormalization`` per image for MR);
- labels: ``dataset.json`` ``"labels"`` names (ACDC-trained models call them RV / MLV / LVC), unless
  ``segmentation.labels`` names a convention.

Input layout: a frame ``(nz, ny, nx)`` with spacing ``(slice spacing, dy, dx)``, which is what nnU-Net's
default ``SimpleITKIO`` reads from our own NIfTI files (``(x, y, z)`` on disk, ``(z, y, x)`` in memory).
nnU-Net v2 is an optional dependency (``pip install --no-deps -r requirements-nnunet.txt``, see README);
importing this module without it raises an ``ImportError`` that says how to install it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np

from cardiomm.device import get_device
from cardiomm.io.nifti import Geometry
from cardiomm.segmentation.base import ProbabilitySegmenter, SegmenterConfigError, declared_mapping

NNUNET_INSTALL = "pip install --no-deps -r requirements-nnunet.txt"


class NnUNetModelError(SegmenterConfigError):
    """An nnU-Net model folder lacks a file or cannot be loaded."""


def _import_predictor():
    # nnU-Net reads these at import and prints a warning when unset; inference never uses them.
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ.setdefault(var, os.devnull)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    except ImportError as err:
        raise ImportError(f"segmentation.kind = nnunetv2 needs the optional package nnunetv2 ({err}); install it "
                          f"with: {NNUNET_INSTALL}") from None
    return nnUNetPredictor


def label_names(dataset_json: dict, source: str) -> dict[int, str]:
    """Output value -> structure name from ``dataset.json`` ``"labels"`` (``{"background": 0, "RV": 1, ...}``)."""
    labels = dataset_json.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise NnUNetModelError(f"{source}: no 'labels' mapping")
    out: dict[int, str] = {}
    for name, v in labels.items():
        if not isinstance(v, int):  # region-based models declare tuples of labels
            raise NnUNetModelError(f"{source}: label {name!r} = {v!r} is a region; only plain label models are "
                                   "supported")
        out[v] = name
    return out


class NnUNetSegmenter(ProbabilitySegmenter):
    """An nnU-Net v2 model folder run by ``nnUNetPredictor`` (see the module docstring)."""

    def __init__(self, root: str | Path, labels: str = "auto", folds: tuple | None = (0,),
                 checkpoint: str = "checkpoint_final.pth") -> None:
        self.root = Path(root)
        self.name = f"nnunetv2:{self.root}"
        for f in ("dataset.json", "plans.json"):
            if not (self.root / f).is_file():
                raise NnUNetModelError(f"{self.root}: no {f}; not an nnU-Net v2 trained-model folder")
        for k in folds or ():
            if not (self.root / f"fold_{k}" / checkpoint).is_file():
                raise NnUNetModelError(f"{self.root / f'fold_{k}' / checkpoint}: missing (config segmentation.folds)")
        dataset_file = self.root / "dataset.json"
        self.lut = declared_mapping(labels, label_names(json.loads(dataset_file.read_text()), str(dataset_file)),
                                    str(dataset_file))
        predictor_cls = _import_predictor()
        self.device = get_device()
        with contextlib.redirect_stdout(io.StringIO()):
            self.predictor = predictor_cls(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                                           perform_everything_on_device=self.device.type == "cuda",
                                           device=self.device, verbose=False, allow_tqdm=False)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.predictor.initialize_from_trained_model_folder(
                    str(self.root), use_folds=None if folds is None else tuple(folds), checkpoint_name=checkpoint)
        except (KeyError, RuntimeError, FileNotFoundError, ValueError) as err:
            raise NnUNetModelError(f"{self.root}: nnU-Net cannot load this model folder ({type(err).__name__}: "
                                   f"{err})") from None

    def volume_probabilities(self, volume: np.ndarray, geom: Geometry, source: str) -> np.ndarray:
        """Class probabilities ``(C, nz, ny, nx)`` of one frame, from ``predict_single_npy_array``."""
        img = np.ascontiguousarray(volume, dtype=np.float32)[None]  # (channel, z, y, x)
        props = {"spacing": [float(geom.spacing), float(geom.dy), float(geom.dx)]}
        with contextlib.redirect_stdout(io.StringIO()):
            _, prob = self.predictor.predict_single_npy_array(img, props, None, None, True)
        prob = np.asarray(prob, dtype=np.float32)
        if prob.shape[1:] != volume.shape:
            raise NnUNetModelError(f"{self.root}: nnU-Net output for {source} has shape {prob.shape}; expected "
                                   f"(C, {', '.join(map(str, volume.shape))})")
        return prob
