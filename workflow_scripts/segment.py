"""rules segment / segment_reference: label maps, QC and Dice of one subject x method."""

from cardiomm.stages import job, segment

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    method = sm.wildcards.get("method", sm.params.method)
    segment.segment(sm.params.subject, method, sm.input, sm.output, sm.input.model, sm.output.table,
                    segmentation=sm.params.segmentation, ed=sm.params.ed,
                    exported=sm.input.get("exported"))
