"""Stages of the comparison: image quality of one subject x method, and the agreement audit (rules/compare.smk)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cardiomm.atomic import write_csv
from cardiomm.cohort import Subject
from cardiomm.conventions import MODALITIES
from cardiomm.io import cmrxrecon as cio
from cardiomm.workflow import named

log = logging.getLogger("cardiomm")


def image_quality(subject: Subject, method: str, inputs: Mapping[str, str], out_csv: str,
                  protocol: str = "all-frames") -> None:
    """PSNR/SSIM/NMSE of every series of one subject x method against the reference, under a scoring ``protocol``
    (:func:`cardiomm.compare.image_quality.protocol_metrics`); one long CSV, every row naming its protocol.

    ``inputs``: ``key(mod, mask, "method")`` -> the method's ``.mat`` reconstructions and ``key(mod, "full",
    "reference")`` -> the reference's (:meth:`cardiomm.workflow.Plan.iq_inputs`; one job per subject x method: each
    reference is read once for all masks; a null control's one "mask" is ``full``).
    """
    import pandas as pd

    from cardiomm.compare.image_quality import protocol_metrics
    from cardiomm.conventions import FULLY_SAMPLED, REFERENCE

    files = named(inputs)
    rows = []
    for mod in dict.fromkeys(m for m, _, who in files if who == REFERENCE):
        ref = cio.read_recon(files[(mod, FULLY_SAMPLED, REFERENCE)])
        for mk in [mk for m, mk, who in files if m == mod and who == "method"]:
            rec = cio.read_recon(files[(mod, mk, "method")])
            for r in protocol_metrics(ref, rec, protocol, MODALITIES[mod].ranking_kind):
                rows.append({"subject": subject.id, "split": subject.split, "modality": mod, "method": method,
                             "mask": mk, **r})
    df = pd.DataFrame(rows)
    cols = ["subject", "split", "modality", "slice", "frame", "method", "mask", "psnr", "ssim", "nmse", "protocol"]
    write_csv(df[cols], out_csv)


def agreement(phenotypes_csv: str, biomarkers_csv: str, comparator: str, tolerance_overrides: dict, cohort: str,
              out_csv: str, out_md: str, out_html: str | None = None, out_heatmap: str | None = None,
              null_control: str = "", powered_n: int | None = None) -> None:
    """agreement.csv (against the comparator and, when truth rows exist, against the truth), audit.md, the verdict
    map ``out_heatmap`` (PNG, PDF twin; shown at the top of the audit) and the same audit as HTML with the map
    inlined (shown in the Snakemake report). ``null_control``: why the run has none (``""``: it has one);
    ``powered_n``: the powered audit's n (config ``agreement.powered_n``). The cells are indicator x roi x labels x
    method x mask (:func:`cardiomm.compare.agreement.agreement_table`)."""
    import os
    from pathlib import Path

    import pandas as pd

    from cardiomm.atomic import write_text
    from cardiomm.compare.agreement import agreement_table
    from cardiomm.compare.audit import audit_markdown
    from cardiomm.compare.tolerances import tolerances_from_config
    from cardiomm.conventions import TRUTH

    bio = pd.read_csv(biomarkers_csv)
    df = pd.concat([pd.read_csv(phenotypes_csv), bio], ignore_index=True)
    tol, src = tolerances_from_config(tolerance_overrides)
    main = agreement_table(df, comparator=comparator, tolerances=tol)
    tables = [main]
    for other in ("reference", TRUTH):
        if other != comparator and (df["method"] == other).any():
            tables.append(agreement_table(df, comparator=other, tolerances=tol))
    both = pd.concat(tables, ignore_index=True)
    write_csv(both, out_csv)
    heatmap = None
    if out_heatmap:
        from cardiomm.figures.plots import verdict_heatmap

        verdict_heatmap(both, tol, str(Path(out_heatmap).with_suffix("")), comparator)
        heatmap = os.path.relpath(out_heatmap, Path(out_md).parent)
    md = audit_markdown(both, tol, src, cohort, biomarkers=bio, heatmap=heatmap, null_control=null_control,
                        powered_n=powered_n)
    write_text(out_md, md)
    if out_html:
        from cardiomm.compare.markdown_html import markdown_to_html

        images = {heatmap: Path(out_heatmap).read_bytes()} if heatmap else {}
        write_text(out_html, markdown_to_html(md, f"cardiomm audit: {cohort}", images=images))
