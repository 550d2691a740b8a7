"""rule coilmaps: ESPIRiT maps of one subject's series, shared by the classical methods' reconstruction jobs."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.coilmaps(sm.params.subject, sm.input, sm.output)
