"""Stage of the segmentation: label maps, QC and Dice/HD95 of one subject x method (rules/segment.smk)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from cardiomm.atomic import write_csv
from cardiomm.cohort import Subject
from cardiomm.conventions import MODALITIES
from cardiomm.io.nifti import save_image
from cardiomm.stages.job import series
from cardiomm.workflow import key

log = logging.getLogger("cardiomm")


def export_segmenter(checkpoint: str, out: str) -> None:
    """Rule export_segmenter: the builtin checkpoint as TorchScript (:mod:`cardiomm.segmentation.compiled`)."""
    from cardiomm.segmentation.compiled import export_segmenter as export

    meta = export(checkpoint, out)
    log.info("exported %s (SHA-256 %s) to %s", checkpoint, meta["checkpoint_sha256"][:12], out)


def segment(subject: Subject, method: str, inputs: Mapping[str, str], outputs: Mapping[str, str], model_path: str,
            out_csv: str, segmentation: dict | None = None, ed: str = "first", exported: str | None = None) -> None:
    """Segment every reconstruction of one subject x method; QC each case; Dice/HD95 against truth if known.

    ``inputs``: ``key(mod, mask)`` -> reconstruction NIfTI; ``outputs``: ``key(mod, mask)`` -> label map
    (:meth:`cardiomm.workflow.Plan.method_images` / ``method_segs``). One job per subject x method: the segmenter
    is loaded once for all its series (a segmentation costs less than loading it).
    Mapping series get one label map per slice (softmax averaged over the weighted images).
    ``segmentation`` is ``config["segmentation"]`` (:mod:`cardiomm.segmentation.segmenters`); absent or
    ``kind: builtin`` without ``path`` = the checkpoint ``model_path``; ``exported`` is its TorchScript export
    (rule export_segmenter), which a CPU job runs instead of importing MONAI.
    """
    import pandas as pd

    from cardiomm.io.nifti import load_image
    from cardiomm.segmentation.metrics import dice_per_class, hd95_mm
    from cardiomm.segmentation.qc import qc_case
    from cardiomm.segmentation.segmenters import load_segmenter_from_config

    segmenter = load_segmenter_from_config({"segmentation": segmentation, "models": {"segmentation": model_path}},
                                           exported=exported)
    log.info("segmenter %s", segmenter.name)
    rows: list[dict] = []
    t0 = time.perf_counter()
    todo = series(outputs)
    for mod, mk in todo:
        src = inputs[key(mod, mk)]
        img, geom = load_image(src)
        kind = MODALITIES[mod].kind
        lab = segmenter.segment(img, geom, kind, source=str(src))
        save_image(outputs[key(mod, mk)], lab, geom, is_label=True)
        ok, reason = qc_case(lab, geom, kind, ed=ed)
        row = {"subject": subject.id, "split": subject.split, "modality": mod, "method": method, "mask": mk,
               "qc_pass": bool(ok), "qc_reason": reason}
        gt_path = subject.label_path(mod)
        if gt_path.exists():
            gt, _ = load_image(gt_path)
            d, h = dice_per_class(lab, gt), hd95_mm(lab, gt, geom)
            row.update({f"dice_{c}": d[c] for c in d})
            row.update({f"hd95_mm_{c}": h[c] for c in h})
        rows.append(row)
        log.info("segmented %s %s %s %s: QC %s %s (%d/%d series, %.0f s elapsed)", method, mk, subject.id, mod,
                 ok, reason, len(rows), len(todo), time.perf_counter() - t0)
    write_csv(pd.DataFrame(rows), out_csv)
