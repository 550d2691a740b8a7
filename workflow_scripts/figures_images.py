"""rule figures_images: quality distributions and the first subject's images (panels, maps, overlays)."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.figures_images(sm.input, sm.input, sm.output, sm.params.methods, sm.params.masks, sm.params.modalities,
                          sm.params.subject)
