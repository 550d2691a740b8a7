"""rule image_quality: PSNR/SSIM/NMSE of one subject x method against the reference."""

from cardiomm.stages import compare, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    compare.image_quality(sm.params.subject, sm.wildcards.method, sm.input, sm.output[0], sm.params.protocol)
