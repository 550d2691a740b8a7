"""rule figures: paper-style figures from the tables and the first subject's images."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    tables = {k: sm.input[k] for k in ("phenotypes", "biomarkers", "image_quality", "segmentation", "agreement")}
    stages.figures(tables, sm.input, sm.output, sm.params.methods, sm.params.masks, sm.params.modalities,
                   sm.params.subject, sm.params.comparator, sm.params.tolerances)
