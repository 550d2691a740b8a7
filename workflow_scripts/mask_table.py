"""rule mask_table: nominal vs achieved acceleration of every mask file."""

from cardiomm.stages import job, undersample

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    undersample.mask_table(sm.input, sm.output[0], sm.params.acs)
