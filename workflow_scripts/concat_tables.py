"""Aggregate per-subject long CSV tables into one table."""

from cardiomm.stages import job, tables

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    tables.concat_tables(list(sm.input), sm.output[0])
