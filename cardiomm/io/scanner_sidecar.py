"""The ingest job's sidecar of a scanner series (``<stem>.json`` beside the internal k-space file): the geometry
(pixel size, thickness, spacing, frame interval, NIfTI and DICOM affines) and the header values that the later
stages (NIfTI, DICOM) need, with the source file. One module owns its keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cardiomm.io.nifti import Geometry


def sidecar(series: object, mod: str, frame_interval_s: float, times: tuple[list[float], str] | None) -> dict:
    """The sidecar of a :class:`cardiomm.io.rawdata.RawSeries` (``frame_interval_s``: cine frame interval, from
    the trigger times or the subject's metadata; ``times``: mapping times and their source)."""
    s = series
    return {
        "source": s.source, "modality": mod, "shape": list(s.kspace.shape),
        "dx_mm": s.dx, "dy_mm": s.dy, "thickness_mm": s.thickness, "spacing_mm": s.spacing,
        "frame_interval_s": frame_interval_s,
        "affine_lps": np.asarray(s.affine_lps).tolist(), "affine_ras": np.asarray(s.affine_ras()).tolist(),
        "tr_ms": s.tr_ms, "te_ms": s.te_ms, "ti_ms": s.ti_ms, "flip_deg": s.flip_deg,
        "trigger_ms": [None if not np.isfinite(v) else float(v) for v in s.trigger_ms],
        "times_ms": times[0] if times else None, "times_source": times[1] if times else None,
        "fully_sampled": s.fully_sampled, "acs_lines": s.acs_lines, "whitened": s.whitened,
        "noise_samples": s.noise_samples, "readout_samples_before_crop": s.removed_oversampling,
        "weight_counter": s.weight_counter, "header": {k: v for k, v in s.meta.items()},
    }


def write_sidecar(path: str | os.PathLike, values: dict) -> None:
    from cardiomm.atomic import write_text

    write_text(path, json.dumps(values, indent=1, default=str) + "\n")


def read_sidecar(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable ingest sidecar ({err})") from None


def sidecar_geometry(path: str | os.PathLike) -> Geometry:
    """:class:`Geometry` (with the NIfTI affine) of a sidecar."""
    v = read_sidecar(path)
    gap = float(v["spacing_mm"]) - float(v["thickness_mm"])
    return Geometry(float(v["dx_mm"]), float(v["dy_mm"]), float(v["thickness_mm"]), gap,
                    float(v["frame_interval_s"] or 0.0), tuple(map(tuple, v["affine_ras"])))
