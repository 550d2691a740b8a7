"""rule cohort_table: write subjects.csv of the synthetic cohort."""

from cardiomm.stages import data, job

with job.logged(snakemake.log[0], snakemake.config):  # noqa: F821 - injected by Snakemake
    data.cohort_table(snakemake.params.phantom, snakemake.output[0])  # noqa: F821
