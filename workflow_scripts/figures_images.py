"""rule figures_images: quality distributions and the first subject's images (panels, maps, overlays)."""

from cardiomm.stages import figures, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    figures.figures_images(sm.input, sm.input, sm.output, sm.params.methods, sm.params.masks, sm.params.modalities,
                           sm.params.subject)
