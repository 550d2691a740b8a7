"""rule indicator_tables: long phenotype and biomarker tables (truth, reference, every method x mask)."""

from cardiomm.stages import job, quantify

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    quantify.indicator_tables(list(sm.input.quant), list(sm.input.truth), sm.params.splits, sm.output.phenotypes,
                              sm.output.biomarkers)
