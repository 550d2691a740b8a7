"""rule rescan: the null control of one subject (its repeated, fully sampled acquisitions, made like the reference)."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.control(sm.params.method, sm.params.subject, sm.input, sm.output)
