"""rule indicator_tables: phenotypes.csv and biomarkers.csv (truth, reference, every method x mask)."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    splits = {s.id: s.split for s in plan.everyone}
    stages.indicator_tables(list(sm.input.quant), list(sm.input.truth), splits, sm.output.phenotypes,
                            sm.output.biomarkers)
