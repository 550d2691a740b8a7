"""rule figures: paper figures from the tables (and one subject's images)."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    tables = {k: sm.input[k] for k in ("phenotypes", "biomarkers", "image_quality", "segmentation", "agreement")}
    stages.figures(plan, tables, sm.params.comparator, sm.params.tolerances, list(sm.output))
