"""rule reference: fully sampled RSS reference of one subject, every modality."""

from cardiomm.stages import job, recon

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    recon.reference(sm.params.subject, sm.output)
