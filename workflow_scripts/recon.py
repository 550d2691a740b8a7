"""rule recon: reconstruct one subject x mask with one method, every modality."""

from cardiomm.stages import job, recon

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    recon.reconstruct(sm.wildcards.method, sm.params.subject, sm.wildcards.mask, sm.input, sm.output, sm.params.recon)
