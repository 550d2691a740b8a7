"""Stages of the quantification: phenotypes and biomarkers of one subject x method, and the long indicator
tables (rules/quantify.smk).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from cardiomm.atomic import write_csv
from cardiomm.cohort import Subject
from cardiomm.conventions import MODALITIES
from cardiomm.io.nifti import save_image
from cardiomm.stages.job import series
from cardiomm.workflow import key

log = logging.getLogger("cardiomm")


def _row(subject: Subject, method: str, mask: str, indicator: str, value: float, qc_pass: bool, reason: str,
         **extra: object) -> dict:
    from cardiomm.conventions import unit

    return {"subject": subject.id, "split": subject.split, "method": method, "mask": mask, "indicator": indicator,
            "unit": unit(indicator), "value": value, "qc_pass": bool(qc_pass), "qc_reason": reason, **extra}


def quantify(subject: Subject, method: str, inputs: Mapping[str, str], outputs: Mapping[str, str], seg_table: str,
             out_csv: str, ed: str = "first", noise_floor: str = "background") -> None:
    """Phenotypes (cine) and myocardial biomarkers (mapping) for every mask of one subject x method.

    ``inputs``: ``key(mod, mask, "image" | "seg")`` -> reconstruction and label map; ``outputs``:
    ``key(mod, mask, "map")`` -> biomarker map of each mapping series; ``seg_table`` the segment job's QC table.
    One job per subject x method (a quantification costs about the start-up of a job).

    A case that failed segmentation QC keeps its value with ``qc_pass = False`` and the reason; a quantity
    that cannot be computed is NaN with the reason. Nothing is dropped silently. ``noise_floor="background"``
    removes each image's RSS noise floor, estimated from its background air, before the mapping fits where that
    air is noise-only RSS magnitude, and applies the SNR criterion (:mod:`cardiomm.quantify.noise`); ``"none"``
    fits the magnitudes as they are. Each biomarker row says what was done (``noise_floor``) and the ROI
    statistic (``statistic``).
    """
    import pandas as pd

    from cardiomm.cohort import TimingMissing
    from cardiomm.io.nifti import load_image
    from cardiomm.quantify.cine import cine_phenotypes
    from cardiomm.quantify.mapping import body_mask, map_series, myocardial_summary, series_noise
    from cardiomm.quantify.noise import floor_summary
    from cardiomm.quantify.wall_thickness import aha_segments

    qc = pd.read_csv(seg_table).set_index(["mask", "modality"])
    rows = []
    for mod, mk in series(inputs):
        ok = bool(qc.loc[(mk, mod), "qc_pass"])
        qc_reason = "" if ok else f"segmentation QC: {qc.loc[(mk, mod), 'qc_reason']}"
        labels, geom = load_image(inputs[key(mod, mk, "seg")])
        labels = labels.astype(np.uint8)
        if MODALITIES[mod].analysis == "phenotypes":
            values, notes = cine_phenotypes(labels, geom, ed=ed)
            log.info("%s %s %s cine: %s", method, mk, subject.id, "; ".join(notes))
            for k, (v, why) in values.items():
                reason = "; ".join(r for r in (qc_reason, why) if r)
                rows.append(_row(subject, method, mk, k, v, ok and np.isfinite(v) and not why, reason))
            continue
        bm = MODALITIES[mod].biomarker
        images, _ = load_image(inputs[key(mod, mk, "image")])
        try:
            times, timing_source = subject.times(mod, nz=images.shape[1], nt=images.shape[0])
        except TimingMissing as err:  # a release without timing and none configured: this biomarker only
            log.warning("%s %s %s: %s skipped (its map file is all zero, the convention for no fit): %s",
                        subject.id, mod, mk, bm, err)
            save_image(outputs[key(mod, mk, "map")],
                       np.zeros((1, *images.shape[1:]), np.float32), geom)
            rows.append(_row(subject, method, mk, bm, float("nan"), False, f"no timing: {err}",
                             timing_source="none"))
            continue
        log.info("%s %s %s: timing from %s", subject.id, mod, mk, timing_source)
        body = body_mask(images)
        noise = series_noise(images) if noise_floor == "background" else None
        floor = floor_summary(noise)
        log.info("%s %s %s %s: noise floor %s", method, mk, subject.id, mod, floor)
        vmap, valid = map_series(images, times, bm, mask=body, noise=noise)
        save_image(outputs[key(mod, mk, "map")], np.nan_to_num(vmap)[None].astype(np.float32),
                   geom)
        try:
            segs = aha_segments(labels[0], geom)
        except ValueError:
            segs = None
        summ = myocardial_summary(vmap, valid, labels[0], geom, segments=segs)
        v = float(summ["value"])
        reason = summ.get("reason") or ""
        reason = "; ".join(r for r in (qc_reason, reason) if r)
        rows.append(_row(subject, method, mk, bm, v, ok and np.isfinite(v), reason,
                         n_pixels=summ.get("n_pixels"), n_invalid=summ.get("n_invalid"),
                         timing_source=timing_source, statistic=summ["statistic"], noise_floor=floor))
    write_csv(pd.DataFrame(rows), out_csv)


def indicator_tables(quant_files: list[str], truth_files: list[str], splits: dict[str, str], out_phenotypes: str,
                     out_biomarkers: str) -> None:
    """Long tables of phenotypes and biomarkers: truth rows (phantom), reference and every method x mask."""
    import pandas as pd

    from cardiomm.conventions import BIOMARKERS, FULLY_SAMPLED, PHENOTYPES, TRUTH

    frames = [pd.read_csv(f) for f in quant_files]
    for f in truth_files:
        t = pd.read_csv(f)
        t["split"] = t["subject"].map(splits)
        t["method"], t["mask"], t["qc_pass"], t["qc_reason"] = TRUTH, FULLY_SAMPLED, True, ""
        frames.append(t)
    df = pd.concat(frames, ignore_index=True)
    cols = ["subject", "split", "method", "mask", "indicator", "unit", "value", "qc_pass", "qc_reason"]
    extra = [c for c in df.columns if c not in cols]
    df = df[cols + extra]
    write_csv(df[df["indicator"].isin(list(PHENOTYPES))][cols], out_phenotypes)
    write_csv(df[df["indicator"].isin(list(BIOMARKERS))], out_biomarkers)
