"""rule synthesize: one synthetic subject (k-space, timing, labels, truth)."""

from cardiomm.stages import data, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    data.synthesize(sm.params.phantom, sm.wildcards.subject, sm.params.root)
