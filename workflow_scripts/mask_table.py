"""rule mask_table: nominal vs achieved acceleration of every mask file."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.mask_table(sm.input, sm.output[0], sm.params.acs)
