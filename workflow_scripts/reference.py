"""rule reference: fully sampled RSS reference of one subject, every modality."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.reference(sm.params.subject, sm.output)
