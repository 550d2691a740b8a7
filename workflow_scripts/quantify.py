"""rules quantify / quantify_reference: phenotypes and biomarkers of one subject x method, every mask."""

from cardiomm.stages import job, quantify

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    method = sm.wildcards.get("method", sm.params.method)
    quantify.quantify(sm.params.subject, method, sm.input, sm.output, sm.input.qc, sm.output.table,
                      ed=sm.params.ed, noise_floor=sm.params.noise_floor)
