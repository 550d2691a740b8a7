"""rules synthesize, synthesize_twice: one synthetic subject (k-space, timing, labels, truth; twice: also the
repeated acquisitions of the null control)."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.synthesize(sm.params.phantom, sm.wildcards.subject, sm.params.root, rescan=sm.params.rescan)
