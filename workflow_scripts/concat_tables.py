"""Aggregate per-subject long CSV tables into one table."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.concat_tables(list(sm.input), sm.output[0])
