"""rule undersample: challenge masks and undersampled k-space of one subject, every modality x mask."""

from cardiomm.stages import job, undersample

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    undersample.undersample(sm.params.subject, sm.params.seed, sm.output, sm.params.mask_source)
