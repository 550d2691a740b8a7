"""rule acquired_mask_table: tables/masks.csv of prospectively undersampled scans (their own sampling)."""

from cardiomm.stages import ingest, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config):
    ingest.acquired_mask_table(sm.input, sm.output[0])
