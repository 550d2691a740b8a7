"""Stages of the quantification: phenotypes and biomarkers of one subject x method, and the long indicator
tables (rules/quantify.smk).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from cardiomm.atomic import write_csv
from cardiomm.cohort import Subject
from cardiomm.conventions import FULLY_SAMPLED, MODALITIES
from cardiomm.io.nifti import save_image
from cardiomm.workflow import key, named

log = logging.getLogger("cardiomm")


def quantify(subject: Subject, method: str, inputs: Mapping[str, str], outputs: Mapping[str, str], seg_table: str,
             out_csv: str, ed: str = "first", noise_floor: str = "acquisition") -> None:
    """Phenotypes (cine) and myocardial biomarkers (mapping) for every mask of one subject x method.

    ``inputs`` (:meth:`cardiomm.workflow.Plan.quant_inputs`): ``key(mod, mask, "image" | "seg")`` ->
    reconstruction and label map; per mapping modality ``key(mod, "noise")`` -> the fully sampled reference image of
    the series (the acquisition's noise; the reference's job has it as its own ``key(mod, "full", "image")``), and
    for a method ``key(mod, "refseg")`` -> the reference's label map with ``refqc`` its QC table (the
    reconstruction-only rows); for the reference of a synthetic subject ``key(mod, "truth" | "truthseg")`` -> the
    true parameter map and labels (the truth rows). ``outputs``: ``key(mod, mask, "map")`` -> biomarker map of
    each mapping series; ``seg_table`` the segment job's QC table. One job per subject x method.
    The science is :func:`cardiomm.quantify.measure.quantify_series` (one procedure for every image).
    """
    import pandas as pd

    from cardiomm.cohort import TimingMissing
    from cardiomm.io.nifti import load_image
    from cardiomm.quantify.measure import Series, quantify_series

    def qc_of(table: str) -> dict:
        t = pd.read_csv(table)
        return {(r.mask, r.modality): (bool(r.qc_pass), "" if r.qc_pass else f"segmentation QC: {r.qc_reason}")
                for r in t.itertuples()}

    # Snakemake's named input is a list: `name in` would test its values, so take its named entries as a dict
    inputs = dict(inputs.items())

    def read(name: str) -> np.ndarray | None:
        return load_image(inputs[name])[0] if name in inputs else None

    qc, ref_qc = qc_of(seg_table), (qc_of(inputs["refqc"]) if "refqc" in inputs else {})
    rows: list[dict] = []
    for mod, mk in [k[:2] for k in named(inputs) if len(k) == 3 and k[2] == "image"]:
        images, geom = load_image(inputs[key(mod, mk, "image")])
        labels = load_image(inputs[key(mod, mk, "seg")])[0].astype(np.uint8)
        bm = MODALITIES[mod].biomarker if MODALITIES[mod].analysis == "biomarker" else None
        extra: dict = {}
        if bm is not None:
            try:
                extra["times"], extra["timing_source"] = subject.times(mod, nz=images.shape[1], nt=images.shape[0])
            except TimingMissing as err:  # a release without timing and none configured: this biomarker only
                extra["timing_error"] = str(err)
            ref_labels = read(key(mod, "refseg"))
            # the fully sampled series: the reference's own image in its own job (Snakemake merges equal inputs)
            noise = next((n for n in (key(mod, "noise"), key(mod, FULLY_SAMPLED, "image")) if n in inputs), "")
            same = noise and inputs[noise] == inputs[key(mod, mk, "image")]
            extra.update(reference=images if same else read(noise),
                         truth_map=read(key(mod, "truth")),
                         truth_labels=read(key(mod, "truthseg")), reference_qc=ref_qc.get((FULLY_SAMPLED, mod)),
                         reference_labels=None if ref_labels is None else ref_labels.astype(np.uint8))
        series = Series(mod, mk, images, labels, geom, qc[(mk, mod)], biomarker=bm, **extra)
        out, vmap, notes = quantify_series(series, subject.id, subject.split, method, ed=ed, noise_floor=noise_floor)
        log.info("%s %s %s %s: %s", method, mk, subject.id, mod, "; ".join(notes))
        if vmap is not None:
            save_image(outputs[key(mod, mk, "map")], vmap, geom)
        rows += out
    write_csv(pd.DataFrame(rows), out_csv)


def indicator_tables(quant_files: list[str], truth_files: list[str], splits: dict[str, str], out_phenotypes: str,
                     out_biomarkers: str) -> None:
    """Long tables of phenotypes and biomarkers: truth rows (phantom), reference and every method x mask."""
    import pandas as pd

    from cardiomm.conventions import BIOMARKERS, FULLY_SAMPLED, PHENOTYPES, TRUTH

    frames = [pd.read_csv(f) for f in quant_files]
    for f in truth_files:
        t = pd.read_csv(f)
        t = t[t["indicator"].isin(list(PHENOTYPES))].copy()  # the biomarkers' truth comes from quantify_reference
        t["split"] = t["subject"].map(splits)
        t["method"], t["mask"], t["qc_pass"], t["qc_reason"] = TRUTH, FULLY_SAMPLED, True, ""
        t["labels"], t["roi"] = "own", ""
        frames.append(t)
    df = pd.concat(frames, ignore_index=True)
    cols = ["subject", "split", "method", "mask", "indicator", "unit", "value", "qc_pass", "qc_reason"]
    extra = [c for c in df.columns if c not in cols]
    df = df[cols + extra]
    write_csv(df[df["indicator"].isin(list(PHENOTYPES))][[*cols, "labels", "roi"]], out_phenotypes)
    write_csv(df[df["indicator"].isin(list(BIOMARKERS))], out_biomarkers)
