"""rule figures_method: Bland-Altman and identity grids of one method, from the indicator tables."""

from cardiomm.stages import figures, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    figures.figures_method(sm.wildcards.method, sm.input, sm.output, sm.params.comparator, sm.params.tolerances)
