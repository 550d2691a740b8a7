"""rule coilmaps: ESPIRiT maps of one subject's series, shared by the classical methods' reconstruction jobs."""

from cardiomm.stages import job, recon

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    recon.coilmaps(sm.params.subject, sm.input, sm.output)
