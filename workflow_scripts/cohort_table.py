"""rule cohort_table: write subjects.csv of the synthetic cohort."""

from cardiomm import stages

with stages.logged(snakemake.log[0], snakemake.config):  # noqa: F821 - injected by Snakemake
    stages.cohort_table(snakemake.params.phantom, snakemake.output[0])  # noqa: F821
