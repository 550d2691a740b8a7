"""rules synthesize, synthesize_twice: one synthetic subject (k-space, timing, labels, truth; twice: also the
repeated acquisitions of the null control)."""

from cardiomm.stages import data, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    data.synthesize(sm.params.phantom, sm.wildcards.subject, sm.params.root, rescan=sm.params.rescan)
