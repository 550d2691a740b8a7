"""The builtin segmenter as a TorchScript file, so that a segment job on CPU runs it without importing MONAI.

``import monai`` loads every MONAI submodule (and transformers, pandas, sympy... through them): about 8 s of a
segment job's 10-30 s (``benchmarks/results/job_overhead.md``). So each run exports the checkpoint once (rule
``export_segmenter``, :func:`export_segmenter`: MONAI builds the U-Net, ``torch.jit.trace`` records it) and every
segment job loads the traced file with :func:`load_exported` (torch only).

Why TorchScript rather than ``torch.export``: loading the traced U-Net takes 0.1 s, loading the same network as a
``torch.export`` program takes about 3 s (it imports sympy and the export machinery), measured here on
torch 2.13.0. torch 2.13 marks ``torch.jit`` deprecated; the project pins that version, and the export is checked
at every export (below), so a future torch that changes it fails loudly.

Guarantees:

- the export is verified when written: the traced and the eager network give identical logits on an input of
  another batch size and image size than the one traced;
- the file records the SHA-256 of the checkpoint file it came from; :func:`load_exported` refuses a file whose
  checkpoint has since changed, naming both files;
- the traced network is used on CPU only: on CUDA (bf16 autocast) the segment job loads the checkpoint itself,
  as before (:class:`cardiomm.segmentation.segmenters.BuiltinSegmenter`).
"""

from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from cardiomm.atomic import atomic_path
from cardiomm.provenance import file_sha256

__all__ = ["EXPORT_FORMAT", "ExportedSegmenter", "SegmenterExportError", "export_segmenter",
           "load_exported"]

EXPORT_FORMAT = "cardiomm-segmenter-torchscript/1"
_META = "cardiomm.json"


class SegmenterExportError(ValueError):
    """An exported segmenter file that is missing, unreadable, not ours, or stale; the message names the file."""


@contextmanager
def _quiet_jit():
    """torch 2.13 warns on every ``torch.jit`` call that the API is deprecated (see the module docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated.*", category=DeprecationWarning)
        # instance norm's "more than one value per channel" check is a Python bool on the traced input's size; the
        # trace keeps it as a constant, which is only that check (the logits are verified on another size below)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


class ExportedSegmenter(torch.nn.Module):
    """The traced U-Net: ``(B, 1, H, W)`` images to ``(B, 4, H, W)`` logits, ``H``, ``W`` multiples of ``divisor``.

    Attributes
    ----------
    divisor: image height and width must be multiples of this (the product of the U-Net's strides).
    checkpoint_meta: what the export recorded (format, checkpoint path and SHA-256, network configuration, torch).
    """

    def __init__(self, module: torch.nn.Module, meta: dict) -> None:
        super().__init__()
        self.module = module
        self.divisor = int(meta["divisor"])
        self.checkpoint_meta = meta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def export_segmenter(checkpoint: str | os.PathLike, out: str | os.PathLike, seed: int = 0) -> dict:
    """Trace the checkpoint's U-Net and write it, with its provenance, to ``out`` (atomically).

    Parameters
    ----------
    checkpoint: a cardiomm segmenter checkpoint (:func:`cardiomm.segmentation.training_task.save_segmenter`).
    out: the TorchScript file to write.
    seed: seed of the random verification input.

    Returns
    -------
    the metadata stored in the file.

    Raises
    ------
    SegmenterExportError
        when the traced network's logits differ from the eager network's on the verification input.
    """
    from cardiomm.segmentation.network import config_dict  # imports MONAI: the export job pays it, once
    from cardiomm.segmentation.training_task import load_segmenter

    model = load_segmenter(checkpoint).cpu().eval()
    d = int(model.seg_config.divisor)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad(), _quiet_jit():
        traced = torch.jit.trace(model, torch.rand(2, 1, 4 * d, 4 * d, generator=gen), check_trace=False)
        probe = torch.rand(3, 1, 3 * d, 5 * d, generator=gen)
        if not torch.equal(traced(probe), model(probe)):
            raise SegmenterExportError(f"{checkpoint}: the traced segmenter's logits differ from the network's on a "
                                       f"(3, 1, {3 * d}, {5 * d}) input; not exporting to {out}")
    meta = {"format": EXPORT_FORMAT, "divisor": d, "checkpoint": str(checkpoint),
            "checkpoint_sha256": file_sha256(checkpoint), "net_config": config_dict(model),
            "torch_version": torch.__version__}
    with atomic_path(out) as tmp, _quiet_jit():
        torch.jit.save(traced, str(tmp), _extra_files={_META: json.dumps(meta)})
    return meta


def load_exported(path: str | os.PathLike, checkpoint: str | os.PathLike | None = None,
                  device: torch.device | str = "cpu") -> ExportedSegmenter:
    """Load an exported segmenter (torch only; no MONAI).

    Parameters
    ----------
    path: the file :func:`export_segmenter` wrote.
    checkpoint: when given, the checkpoint the file must have been exported from (compared by SHA-256).
    device: where to put it.

    Raises
    ------
    SegmenterExportError
        naming the file when it is missing, not an exported cardiomm segmenter, or exported from another checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise SegmenterExportError(f"{path}: exported segmenter not found (rule export_segmenter writes it)")
    extra = {_META: ""}
    try:
        with _quiet_jit():
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        meta = json.loads(extra[_META] or "{}")
    except (RuntimeError, ValueError) as err:
        raise SegmenterExportError(f"{path}: not a readable TorchScript file ({err})") from None
    if meta.get("format") != EXPORT_FORMAT:
        raise SegmenterExportError(f"{path}: not an exported cardiomm segmenter (format {meta.get('format')!r}, "
                                   f"expected {EXPORT_FORMAT!r})")
    if checkpoint is not None and file_sha256(checkpoint) != meta["checkpoint_sha256"]:
        raise SegmenterExportError(f"{path}: exported from another version of {checkpoint} (SHA-256 differs); "
                                   "re-run rule export_segmenter")
    return ExportedSegmenter(module, meta).eval()
