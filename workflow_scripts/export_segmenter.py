"""rule export_segmenter: the builtin segmenter checkpoint as the run's TorchScript file."""

from cardiomm.stages import job, segment

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    segment.export_segmenter(sm.input.model, sm.output[0])
