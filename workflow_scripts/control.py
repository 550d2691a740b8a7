"""rule rescan: the null control of one subject (its repeated, fully sampled acquisitions, made like the reference)."""

from cardiomm.stages import job, recon

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    recon.control(sm.params.method, sm.params.subject, sm.input, sm.output)
