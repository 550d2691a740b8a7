"""rule undersample: challenge masks and undersampled k-space of one subject, every modality x mask."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.undersample(sm.params.subject, sm.params.seed, sm.output, sm.params.mask_source)
